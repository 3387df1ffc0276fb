"""The Linear regions tab, driven through its parameters (no browser)."""

import asyncio

import numpy as np
import panel as pn
import pytest
import torch
from bokeh.models import GlyphRenderer, ImageRGBA, MultiLine

from dashboard.app import TABS
from dashboard.tabs.regions import analysis as analysis_module
from dashboard.tabs.regions import figures
from dashboard.tabs.regions.view import RegionsView
from dashboard.views.common import CLASS_COLORS
from explorer import datasets, nets, regions, stability, zoo
from explorer.training import evaluation


def renderers(fig, glyph_type):
    return [r for r in fig.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, glyph_type)]


def shown_pixels(fig):
    """The plot's image as the browser gets it: RGB per pixel (rows from the bottom), the region under
    each pixel (-1: none, or no hover table) and the input points at the pixel centres."""
    (image,) = renderers(fig, ImageRGBA)
    data, table = image.data_source.data, fig.select_one({"name": "regions-table"}).data
    rgba = np.asarray(data["image"][0]).view(np.uint8).reshape(*data["image"][0].shape, 4)
    row = np.asarray(data["row"][0])
    region = np.where(row >= 0, np.asarray(table["region"])[np.maximum(row, 0)], -1)
    box = (data["x"][0], data["x"][0] + data["dw"][0], data["y"][0], data["y"][0] + data["dh"][0])
    xs, ys = regions.pixel_centres(box, row.shape)
    return rgba, region, np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


def rgb(color: str) -> list:
    return [int(color[i:i + 2], 16) for i in (1, 3, 5)]


def clear_patterns(model, X, upto: int):
    """The forward pass's pattern (first ``upto`` hidden layers) at each point, and whether every
    pre-activation clears zero by 1e-9 (the point is not on a bent hyperplane)."""
    z = [p.numpy() for p in nets.canonical(model).preactivations(X)][:upto]
    if not z:
        return np.zeros((len(X), 0), dtype=bool), np.ones(len(X), dtype=bool)
    z = np.concatenate(z, axis=1)
    return z > 0, (np.abs(z) > 1e-9).all(1)


def test_tab_is_registered():
    assert ("Linear regions", RegionsView) in TABS


def test_two_d_counts_are_the_librarys(state):
    view = RegionsView(state=state, resolution=64)
    data = datasets.load("moons")
    box = evaluation.data_box(np.concatenate([data.X_train, data.X_test]))
    model = zoo.load("moons-mlp")
    part = regions.partition_2d(model, box=box)
    counts = view.analysis.counts()
    assert counts["activation regions"] == part.num_regions
    assert counts["linear regions"] == part.num_linear_regions
    assert counts["grid estimate (lower bound)"] == regions.grid_estimate(model, box, 64).count <= part.num_regions
    assert counts["Serra et al. upper bound"] == regions.serra_upper_bound(2, [16, 16])
    assert counts["per layer"][-1] == part.num_regions
    text = view._counts_pane().object
    assert f"**{part.num_regions:,}** activation regions" in text


def test_layer_slider_and_colouring_redraw_without_recomputing(state, monkeypatch):
    calls = []
    real = regions.partition_plane

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis_module.regions, "partition_plane", counting)
    view = RegionsView(state=state, box=(-1.234, 1.5, -1.0, 1.0))  # a box no other test uses
    part = view.analysis.partition()
    assert len(calls) == 1
    for layer in (0, 1, 2, -1):
        for color_by in ("pattern", "class"):
            view.analysis.param.update(layer=layer, color_by=color_by, unit=3)
            assert not isinstance(view._body(), pn.pane.Alert)
            fig = view.figure()
            k = layer if layer >= 0 else 2
            full_class_map = color_by == "class" and k == 2
            expected = len(part.class_cells) if full_class_map else part.layers[k].num_regions
            assert len(view._picture.counts) == expected
            # every pixel centre shows the region of the layer-k partition holding it (the forward pass's pattern)
            _, region, X = shown_pixels(fig)
            pattern, clear = clear_patterns(zoo.load("moons-mlp"), X, k)
            inside = region.ravel() >= 0
            assert inside.mean() > 0.5
            keep = inside & clear
            units = sum(part.layer_sizes[:k])
            np.testing.assert_array_equal(part.layers[k].patterns[region.ravel()[keep], :units], pattern[keep])
    assert len(calls) == 1


def test_class_colours_and_decision_boundary_are_drawn(state):
    view = RegionsView(state=state, color_by="class")
    part = view.analysis.partition()
    fig = view.figure()
    # class colouring draws the regions split along the decision boundary (exact class cells): every
    # pixel centre has the colour of the class the network gives it
    rgba, region, X = shown_pixels(fig)
    logits = nets.canonical(zoo.load("moons-mlp"))(torch.from_numpy(X)).detach().numpy()
    top = np.sort(logits, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-9
    inside = (region.ravel() >= 0) & clear
    assert inside.mean() > 0.5
    expected = np.array([rgb(CLASS_COLORS[c]) for c in logits.argmax(1)])
    np.testing.assert_array_equal(rgba.reshape(-1, 4)[inside, :3], expected[inside])
    lines = renderers(fig, MultiLine)
    assert len(lines) == 1 and len(lines[0].data_source.data["xs"]) == len(part.boundary_segments)


def test_picked_unit_draws_its_bent_hyperplane(state):
    view = RegionsView(state=state, layer=2, unit=5)
    part = view.analysis.partition()
    fig = view.figure()
    lines = renderers(fig, MultiLine)
    expected = part.bent_hyperplane(2, 5)
    assert len(lines) == 2 and len(lines[1].data_source.data["xs"]) == len(expected)


def test_stability_bars_and_compression_match_the_library(state):
    view = RegionsView(state=state)
    table = view.analysis.stability_table()
    box = stability.Box.from_extent(*view.analysis.slice_key()[1:])
    model = zoo.load("moons-mlp")
    exact = stability.stable_units(model, box, method="exact")
    for k, c in enumerate(exact.counts()):
        row = table[(table.layer == k + 1) & (table.method == "exact")].iloc[0]
        assert row.active == c["active"] and row.inactive == c["inactive"]
        milp = table[(table.layer == k + 1) & (table.method == "milp")].iloc[0]
        crown = table[(table.layer == k + 1) & (table.method == "crown")].iloc[0]
        ibp = table[(table.layer == k + 1) & (table.method == "ibp")].iloc[0]
        assert ibp.stable <= crown.stable <= milp.stable <= row.stable
    report = view.analysis.compression()
    assert report.max_abs_diff <= 1e-9
    assert sum(report.widths_after) == sum(report.widths_before) - sum(report.removed_inactive) - sum(
        report.folded_active) - sum(report.widths_before[k] for k in report.collapsed_layers)
    out = view._draw_stability((table, report))
    assert "Largest output difference" in out[2].object


def test_button_runs_in_the_background_and_shows_results(state):
    view = RegionsView(state=state)
    asyncio.run(view._on_stability())
    assert len(view._stab_out.objects) == 1 and not isinstance(view._stab_out.objects[0], pn.pane.Alert)


def test_image_slice_through_three_samples(state):
    state.model_name = "digits-mlp"
    view = RegionsView(state=state, samples="3, 10, 20")
    data = datasets.load("digits")
    plane = regions.plane_through(data.X_test[[3, 10, 20]])
    part = regions.partition_plane(zoo.load("digits-mlp"), *plane)
    assert view.analysis.counts()["activation regions"] == part.num_regions
    fig = view.figure()
    assert not isinstance(view._body(), pn.pane.Alert)
    view.analysis.param.update(plane_kind="sample + random directions", samples="7", extent=0.5)
    assert view.analysis.slice_key() == ("random", 7, 0, 0.5)
    assert view.analysis.counts()["activation regions"] >= 1
    assert fig is not None


def test_recipe_table_is_measured(state):
    state.model_name = "digits-mlp"
    view = RegionsView(state=state, samples="0, 1, 2", eps=0.02)
    table = view.analysis.recipe_table()
    assert list(table.model) == ["digits-mlp", "digits-mlp-l1", "digits-mlp-adv"]
    plane = regions.plane_through(datasets.load("digits").X_test[[0, 1, 2]])
    box = stability.Box.linf_ball(datasets.load("digits").X_test[0], 0.02, clip=(0.0, 1.0))
    for _, row in table.iterrows():
        model = zoo.load(row["model"])
        assert row["activation regions"] == regions.partition_plane(model, *plane).num_regions
        assert row["stable (CROWN)"] == stability.stable_units(model, box, method="crown").num_stable
        assert row["stable (CROWN)"] <= row["stable (MILP)"]


def test_bad_settings_are_explained(state):
    state.model_name = "digits-mlp"
    view = RegionsView(state=state, samples="1, x")
    body = view._body()
    assert isinstance(body, pn.pane.Alert) and "integers" in body.object
    view.analysis.samples = "1, 2"
    assert "exactly three" in view._body().object
    state.model_name = "moons-mlp"
    with pytest.raises(ValueError, match="digits"):
        view.analysis.recipe_table()


def test_uploaded_model_gets_the_same_treatment(state, tmp_path):
    import torch
    from torch import nn

    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(2, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 2)).eval()
    zoo.save(model, tmp_path / "mine.pt", input_shape=(2,))
    state.add_upload("mine.pt", (tmp_path / "mine.pt").read_bytes())
    view = RegionsView(state=state, box=(-1.0, 1.0, -1.0, 1.0))
    assert view.analysis.counts()["activation regions"] == regions.partition_2d(model, box=(-1, 1, -1, 1)).num_regions
    assert not isinstance(view._body(), pn.pane.Alert)
    assert view.analysis.compression().max_abs_diff <= 1e-9


def test_slice_along_the_adversarial_direction_contains_the_adversarial_point(state):
    from explorer import attacks

    state.model_name = "digits-mlp"
    view = RegionsView(state=state, plane_kind="sample + adversarial direction", samples="4", extent=0.1)
    data = datasets.load("digits")
    r = attacks.deepfool(zoo.load("digits-mlp"), data.X_test[4:5].astype(np.float32), clip=(0.0, 1.0)).r[0]
    plane = view.analysis.plane()
    np.testing.assert_allclose(plane.directions[0], r / np.linalg.norm(r), atol=1e-6)
    u = plane.to_plane(data.X_test[4] + r)[0]
    assert np.abs(u).max() < np.abs(plane.polygon).max()
    part = view.analysis.partition()
    assert len(part.boundary_segments) > 0  # the decision boundary crosses between x and x + r
    assert not isinstance(view._body(), pn.pane.Alert)


def test_class_colouring_works_before_the_output_layer(state):
    """A region of an earlier layer takes the one class predicted all over it, or 'several classes'
    where the decision boundary crosses it; the view says why, and the key names the classes."""
    view = RegionsView(state=state, color_by="class", layer=1)
    part = view.analysis.partition()
    picture = view.analysis.picture()
    assert len(picture.polygons) == part.layers[1].num_regions and picture.color_by == "class"
    cells = {}
    for _, c, r in part.class_cells:  # the classes of the class cells inside each layer-1 region
        cells.setdefault(int(part.ancestors[1][r]), set()).add(int(c))
    assert sorted(cells) == list(range(part.layers[1].num_regions))
    for region, classes in cells.items():
        assert picture.classes[region] == (classes.pop() if len(classes) == 1 else analysis_module.SEVERAL)
    assert analysis_module.SEVERAL in picture.classes  # the boundary crosses some layer-1 region of moons-mlp
    assert len(set(picture.classes) - {analysis_module.SEVERAL}) == 2
    body = view._body()
    assert "regions-colour-note" in body[0].css_classes and "grey" in body[0].object
    fig = view.figure()
    labels = [getattr(item.label, "value", None) for item in fig.legend[0].items]  # None: a field (the points)
    names = state.dataset.class_names
    assert {f"region: {names[0]}", f"region: {names[1]}", "region: several classes"} <= set(labels)
    assert fig.legend[0] in fig.right and not any(type(item).__name__ == "Legend" for item in fig.center)


def test_a_model_switch_with_a_highlighted_unit_leaves_no_loading_overlay(state):
    view = RegionsView(state=state, layer=2, unit=5)
    state.model_name = "digits-mlp"
    assert view.analysis.layer == 2 and view.analysis.box is None and view.analysis.model is state.model
    body = view._out.objects[0]
    assert not isinstance(body, pn.pane.Alert) and not view._out.loading
    np.testing.assert_array_equal(view.analysis.picture().bent, view.analysis.partition().bent_hyperplane(2, 5))
    assert view.analysis.counts()["activation regions"] == regions.partition_plane(
        zoo.load("digits-mlp"), *regions.plane_through(datasets.load("digits").X_test[[0, 1, 2]])).num_regions


def test_a_dataset_switch_says_building_then_draws(state, monkeypatch):
    """Served, a new model and dataset show "Building the partition…" first, then the plot (next tick)."""
    from dashboard.views import common

    class ServedDocument:  # what show_built uses of a served session's document
        session_context = None  # what Panel reads of the current document in the build's thread

        def __init__(self):
            self.callbacks = []

        def add_next_tick_callback(self, callback):
            self.callbacks.append(callback)

    view = RegionsView(state=state)
    doc = ServedDocument()
    monkeypatch.setattr(common, "served_document", lambda: doc)
    state.model_name = "digits-mlp"
    (shown,) = view._out.objects
    assert "building" in shown.css_classes and "Building the partition" in shown[1].object
    assert len(doc.callbacks) == 1
    asyncio.run(doc.callbacks[0]())  # the build runs in a thread, off the event loop
    (body,) = view._out.objects
    assert not isinstance(body, pn.pane.Alert) and "regions-counts" in body[1].css_classes


def test_served_the_partition_is_computed_while_the_page_is_built_and_the_estimate_follows(state, monkeypatch):
    """Served, a slice not yet computed: its partition starts computing as soon as the tab is made (before
    its widgets); in a session that exists (a new model, say), the exact counts are shown without
    waiting for the grid estimate, whose line follows on a later tick with the library's count."""
    from dashboard.tabs.regions import view as view_module
    from dashboard.views import common

    class ServedDocument:  # what show_built uses of a served session's document
        session_context = None

        def __init__(self):
            self.callbacks = []

        def add_next_tick_callback(self, callback):
            self.callbacks.append(callback)

    doc = ServedDocument()
    monkeypatch.setattr(common, "served_document", lambda: doc)
    started = []
    prefetch = analysis_module.RegionsAnalysis.prefetch
    monkeypatch.setattr(analysis_module.RegionsAnalysis, "prefetch",
                        lambda self: started.append(self.box) or prefetch(self))
    box = (-1.3, 1.2, -0.9, 1.1)  # a slice no other test computes: not in the process's caches
    view = RegionsView(state=state, box=box, resolution=48)  # a session being created: drawn at once
    assert len(started) == 1 and view._prefetch is not None  # the job was started before the drawing
    assert "computing" not in view._out.objects[0][1].object
    monkeypatch.setattr(view_module, "session_exists", lambda doc: True)
    box = (-1.25, 1.2, -0.9, 1.1)
    view.analysis.box = box  # a new slice in a session that exists: built in a thread, the estimate after
    (shown,) = view._out.objects
    assert "building" in shown.css_classes and len(doc.callbacks) == 1
    asyncio.run(doc.callbacks[0]())
    (body,) = view._out.objects
    counts = body[1].object
    library = regions.partition_2d(zoo.load("moons-mlp"), box=box)
    assert f"**{library.num_regions:,}** activation regions" in counts and "computing…" in counts
    assert len(doc.callbacks) == 2  # the estimate's turn
    asyncio.run(doc.callbacks[1]())
    estimate = regions.grid_estimate(zoo.load("moons-mlp"), box, 48).count
    assert estimate > 1 and f"**≥ {estimate:,}**" in body[1].object and "computing" not in body[1].object
    assert f"**{library.num_regions:,}** activation regions" in body[1].object


def test_the_analyses_take_their_setting_bounds_from_one_home():
    """The bounds a link or a client may send live in dashboard/tabs/bounds.py only: the analyses
    import them (no copy to drift apart)."""
    import inspect

    from dashboard.tabs import bounds
    from dashboard.tabs.inverse import analysis as inverse_analysis
    from dashboard.tabs.overview import analysis as overview_analysis

    assert (analysis_module.LAYER_INDEX, analysis_module.UNIT_INDEX, analysis_module.TYPED_LIST) == (
        bounds.LAYER_INDEX, bounds.UNIT_INDEX, bounds.TYPED_LIST)
    assert overview_analysis.SAMPLE_INDEX == bounds.SAMPLE_INDEX and inverse_analysis.SEED == bounds.SEED
    for module in (analysis_module, inverse_analysis, overview_analysis):
        source = inspect.getsource(module)
        assert not any(f"\n{name} = " in source for name in ("LAYER_INDEX", "UNIT_INDEX", "TYPED_LIST",
                                                            "SAMPLE_INDEX", "SEED"))


def test_a_zoom_draws_the_pixels_of_the_box_shown_and_the_hover_table_is_the_librarys(state):
    """Pan and zoom re-rasterise the visible box (level of detail): the new pixels show the regions
    holding their centres; the hover's table holds each shown region's units on, class and area."""
    from bokeh.events import RangesUpdate

    view = RegionsView(state=state, box=(-1.0, 1.0, -1.0, 1.0))
    part = view.analysis.partition()
    fig = view.figure()
    view._on_ranges(RangesUpdate(fig, x0=-0.1, x1=0.05, y0=0.2, y1=0.35))
    rgba, region, X = shown_pixels(fig)
    assert X[:, 0].min() > -0.1 and X[:, 0].max() < 0.05 and X[:, 1].min() > 0.2 and X[:, 1].max() < 0.35
    pattern, clear = clear_patterns(zoo.load("moons-mlp"), X, 2)
    keep = (region.ravel() >= 0) & clear
    assert keep.mean() > 0.9
    np.testing.assert_array_equal(part.patterns[region.ravel()[keep]], pattern[keep])
    colours = np.array([rgb(c) for c in figures.pattern_colors(part.patterns)])
    np.testing.assert_array_equal(rgba.reshape(-1, 4)[keep, :3], colours[region.ravel()[keep]])
    table = fig.select_one({"name": "regions-table"}).data
    r = np.asarray(table["region"])
    np.testing.assert_array_equal(table["area"], part.areas[r])
    np.testing.assert_array_equal(table["cls"], part.predicted[r])
    np.testing.assert_array_equal(table["on1"], part.patterns[r, 16:32].sum(1))


def test_the_first_picture_is_the_forward_pass_at_each_pixel_centre(state):
    """Before the exact partition (served, a slow slice): each pixel shows the pattern (or class) the
    network computes at its centre; once the partition is in, the same pixels show the same colours."""
    view = RegionsView(state=state, box=(-1.0, 1.0, -1.0, 1.0))
    box = (-1.2, 1.1, -0.9, 1.3)
    for color_by in ("pattern", "class"):
        view.analysis.color_by = color_by
        first, labels = view.analysis.first_picture(box, (60, 70))
        xs, ys = regions.pixel_centres(box, labels.shape)
        X = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
        inside = (np.abs(X) < 1).all(1)
        np.testing.assert_array_equal(labels.ravel() >= 0, inside)
        pattern, _ = clear_patterns(zoo.load("moons-mlp"), X, 2)
        np.testing.assert_array_equal(first.patterns[labels.ravel()[inside]], pattern[inside])
        logits = nets.canonical(zoo.load("moons-mlp"))(torch.from_numpy(X)).detach().numpy()
        np.testing.assert_array_equal(first.classes[labels.ravel()[inside]], logits.argmax(1)[inside])
        exact = view.analysis.picture()
        shown, later = figures.polygon_colors(first)[labels], figures.polygon_colors(exact)[
            view.analysis.pixels(exact, box, labels.shape)]
        pattern, clear = clear_patterns(zoo.load("moons-mlp"), X, 2)
        keep = inside & clear
        np.testing.assert_array_equal(shown.reshape(-1, 3)[keep], later.reshape(-1, 3)[keep])
        assert not first.exact and first.num_regions <= view.analysis.partition().num_regions
