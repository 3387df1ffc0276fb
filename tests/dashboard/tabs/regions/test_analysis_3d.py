"""The Linear regions tab's dual graph, topology of the decision and 3-D slice, against the library.

Known answers: the hollow L1 shell 0.3 < |x|_1 < 0.7 in a 3-input box is (b0, b1, b2) = (1, 0, 1)
and its complement (2, 0, 1) (tests/explorer/regions/test_topology.py); every other number is the library's
own on the same slice (regions.partition_slice / space_through, decision_topology, dual_graph).
"""

from urllib.parse import urlencode

import numpy as np
import panel as pn
import pytest
from bokeh.models import GlyphRenderer, MultiLine, Patches, Slider
from panel.util import parse_query

from dashboard.state import settings_from
from dashboard.tabs.regions import analysis_3d as analysis_module
from dashboard.tabs.regions import figures
from dashboard.tabs.regions.analysis import RegionsAnalysis
from dashboard.tabs.regions.view import RegionsView
from explorer import datasets, regions, zoo
from explorer.training import evaluation
from tests.explorer.nd_builders import shell

SAMPLES = [4, 5, 6, 7]


def _shell_data(n=400):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
    y = ((np.abs(X).sum(1) > 0.3) & (np.abs(X).sum(1) < 0.7)).astype(np.int64)
    return datasets.Dataset("shell-3d", X[: n // 2], y[: n // 2], X[n // 2:], y[n // 2:], ["outside", "shell"],
                            domain=(-1.0, 1.0))


def test_a_three_input_models_input_box_shows_the_shells_void():
    data = _shell_data()
    a = RegionsAnalysis(model=shell(3), dataset=data, view="3-D slice")
    key = a.space_key()
    assert key[0] == "box3"
    table = a.topology_table().set_index("class")
    assert table.loc["shell", ["b0 (components)", "b1 (holes)", "b2 (voids)"]].tolist() == [1, 0, 1]
    assert table.loc["outside", ["b0 (components)", "b1 (holes)", "b2 (voids)"]].tolist() == [2, 0, 1]
    lo, hi = np.reshape(key[1:], (3, 2)).T
    part = regions.partition_nd(shell(3), np.stack([lo, hi], axis=1))
    assert a.counts_3d()["regions"] == part.num_regions
    picture = a.picture_3d()
    assert len(picture.edges) == 12 and len(picture.points) == 0 and picture.axes == ("x1", "x2", "x3")


def test_the_3d_view_shows_the_librarys_numbers_and_turns_in_the_browser(state):
    state.model_name = "digits-mlp-l1"
    view = RegionsView(state=state, view="3-D slice", samples_3d=", ".join(map(str, SAMPLES)), margin=0.1,
                       color_by="class")
    data = datasets.load("digits")
    part = regions.partition_slice(zoo.load("digits-mlp-l1"), regions.space_through(*data.X_test[SAMPLES], margin=0.1))
    top = regions.decision_topology(part)
    (body,) = view._out.objects
    bokeh_pane, counts, topology = body.objects[-3:]
    assert f"**{part.num_regions:,}** activation regions in the 3-D slice" in counts.object
    shown = topology.objects[1].object
    np.testing.assert_array_equal(shown[["b0 (components)", "b1 (holes)", "b2 (voids)"]].to_numpy(), top.betti)
    fig, sliders = bokeh_pane.object.children
    (patches,) = [r for r in fig.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, Patches)]
    cells = regions.cell_faces(part, by_class=True)
    assert len(patches.data_source.data["xs"]) == len(cells.polygons)
    assert {tuple(s.js_property_callbacks) for s in sliders.children if isinstance(s, Slider)} == {("change:value",)}
    picture = view.analysis.picture_3d()  # painter's order: farthest first
    depth = [figures._project(P, np.zeros(3), figures.AZIMUTH, figures.ELEVATION)[1].mean() for P in picture.polygons]
    shown_xs = patches.data_source.data["xs"]
    order = np.argsort(depth, kind="stable")
    centre = 0.5 * (picture.edges.reshape(-1, 3).min(0) + picture.edges.reshape(-1, 3).max(0))
    first = figures._project(picture.polygons[order[0]], centre, figures.AZIMUTH, figures.ELEVATION)[0]
    np.testing.assert_allclose(shown_xs[0], first[:, 0])
    view.analysis.draw_3d = "decision boundary"
    surface = regions.decision_surface(part)
    fig = view._out.objects[0].objects[-3].object.children[0]
    (patches,) = [r for r in fig.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, Patches)]
    assert len(patches.data_source.data["xs"]) == len(surface.polygons)


def test_too_many_regions_say_so(state, monkeypatch):
    monkeypatch.setattr(analysis_module, "MAX_REGIONS_3D", 5)
    state.model_name = "digits-mlp-l1"
    view = RegionsView(state=state, view="3-D slice", samples_3d="8, 9, 10, 11")
    (alert,) = view._out.objects
    assert isinstance(alert, pn.pane.Alert) and "more than 5 regions" in alert.object


def test_a_two_input_model_has_no_3d_slice_and_the_dual_graph_is_drawn(state):
    view = RegionsView(state=state, view="3-D slice")
    (alert,) = view._out.objects
    assert isinstance(alert, pn.pane.Alert) and "at least 3 inputs" in alert.object
    view.analysis.param.update(view="2-D slice", dual=True)
    data = datasets.load("moons")
    part = regions.partition_2d(zoo.load("moons-mlp"), box=evaluation.data_box(np.concatenate([data.X_train,
                                                                                               data.X_test])))
    graph = regions.dual_graph(part)
    lines = [r for r in view.figure().renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, MultiLine)
             and len(r.data_source.data["xs"]) == len(graph.edges)]
    assert len(lines) == 1
    topology = view._out.objects[0].objects[-1].objects[0]
    assert f"**{len(graph.edges):,}** adjacent pairs" in topology.objects[0].object


def _query(**values):  # as the page reads a link (Panel's Location)
    return parse_query("?" + urlencode({f"regions.{k}": v for k, v in values.items()}))


def test_a_link_keeps_the_new_settings_and_refuses_out_of_range_ones():
    query = _query(view="3-D slice", samples_3d="1, 2, 3, 4", margin="0.5", draw_3d="decision boundary",
                   dual="true")
    assert settings_from(query, "Linear regions", RegionsView) == {
        "view": "3-D slice", "samples_3d": "1, 2, 3, 4", "margin": 0.5, "draw_3d": "decision boundary", "dual": True}
    refused = []
    assert settings_from(_query(margin="7", view="4-D"), "Linear regions", RegionsView, refused) == {}
    assert sorted(refused) == ["regions.margin", "regions.view"]


@pytest.mark.parametrize("samples", ["1, 2, 3", "1, 2, 3, 99999", "a, b"])
def test_the_3d_slice_needs_four_test_samples(samples):
    a = RegionsAnalysis(model=zoo.load("digits-mlp"), dataset=datasets.load("digits"), view="3-D slice",
                        samples_3d=samples)
    with pytest.raises(ValueError, match="four test samples|integers"):
        a.space_key()
