"""The Symmetry tab, driven through its parameters (no browser)."""

import asyncio
import base64
import html
import io
import re

import numpy as np
import panel as pn
import PIL.Image
import pytest
import torch
from torch import nn

from dashboard.app import TABS
from dashboard.tabs.symmetry.view import SymmetryView
from dashboard.views.common import _palette
from explorer import datasets, zoo
from explorer import equivariance as eq


def _gallery(pane) -> tuple[list, list]:
    """An HTML gallery's pictures (RGB arrays, row 0 at the top) and captions, in order."""
    text = pane.object
    pictures = [np.asarray(PIL.Image.open(io.BytesIO(base64.b64decode(b)))) for b in
                re.findall(r'src="data:image/png;base64,([^"]+)"', text)]
    captions = [html.unescape(c) for c in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", text)]
    return pictures, captions


def _colours(values, cmap, low, high):
    """The RGB colours that ``cmap`` over (low, high) gives ``values``."""
    palette = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in _palette(cmap)])
    return palette[np.clip(np.round((values - low) / (high - low) * 255), 0, 255).astype(int)]


def test_symmetry_tab_is_registered():
    assert ("Symmetry", SymmetryView) in TABS


def test_rotated_predictions_match_the_library_and_p4_does_not_change(state):
    view = SymmetryView(state=state, sample=5, angle=30)
    x = datasets.load("digits").X_test[5]
    p4 = view.analysis.predictions("digits-p4cnn")
    assert list(p4.angles) == [0, 90, 180, 270, 30] and list(p4.in_p4) == [True] * 4 + [False]
    direct = eq.rotation_predictions(zoo.load("digits-p4cnn"), x, [0, 90, 180, 270, 30])
    np.testing.assert_allclose(p4.probabilities, direct.probabilities, rtol=1e-6)
    assert len(set(p4.predictions[:4])) == 1
    body = view._rotations_body()
    assert not isinstance(body, pn.pane.Alert)
    table = body[1].object
    assert set(table["model"]) == {"digits-cnn", "digits-p4cnn"}
    assert "30° (interpolated, not in p4)" in set(table["angle"])
    rows = table[table["model"] == "digits-p4cnn"]
    assert rows["prediction"].iloc[0] == str(direct.predictions[0])
    bars = body[3][1].object.renderers[0].data_source.data  # digits-p4cnn's bars: (class, angle) -> probability
    height = dict(zip(bars["x"], bars["top"]))
    assert height[("3", "30° (interpolated, not in p4)")] == pytest.approx(p4.probabilities[4, 3])
    assert height[("7", "90°")] == pytest.approx(p4.probabilities[1, 7])


def test_errors_are_zero_for_p4_and_large_for_the_plain_cnn(state):
    view = SymmetryView(state=state)
    assert view.analysis.errors("digits-p4cnn").per_layer.max() <= 1e-12
    assert view.analysis.errors("digits-cnn").per_layer[-1] > 1e-2
    assert not isinstance(view._errors_body(), pn.pane.Alert)


def test_feature_maps_rotate_and_shift_along_orientation(state):
    view = SymmetryView(state=state, focus="digits-p4cnn", sample=2)
    assert all("regular" in label for label in view.analysis.map_layers())
    view.analysis.layer, view.analysis.channel = 4, 2  # the first group conv
    fm = view.analysis.feature_maps()
    assert fm.kind == "regular" and fm.orientations == 4 and fm.maps.shape == (4, 32, 4, 4)
    c = 2
    for r in range(4):  # input turned r quarter turns: orientation s holds rot^r of orientation s - r
        for s in range(4):
            want = np.rot90(fm.maps[0, 4 * c + (s - r) % 4], r)
            np.testing.assert_allclose(fm.maps[r, 4 * c + s], want, atol=1e-12)
    body = view._maps_body()
    assert not isinstance(body, pn.pane.Alert) and "shifted" in body[0].object
    images, captions = _gallery(body[1])  # a picture per (input rotation, orientation plane)
    assert len(images) == 4 * 4 and captions[5] == "input 90°, s = 1"
    lim = np.abs(fm.maps[:, 4 * c:4 * c + 4]).max()
    for r in range(4):
        for s in range(4):  # shown with row 0 at the bottom, as the module orients them
            want = _colours(fm.maps[r, 4 * c + s][::-1], "RdBu_r", -lim, lim)
            assert np.array_equal(images[4 * r + s], want)
    view.analysis.focus = "digits-cnn"  # the layer list follows the model; its maps are plain
    assert view.analysis.layer in view.analysis.map_layers().values()
    assert view.analysis.feature_maps().kind == "plain"
    assert not isinstance(view._maps_body(), pn.pane.Alert)


def test_six_nine_confusion_and_deepfool_are_shown(state):
    view = SymmetryView(state=state, confusion_angle=180)
    cnn, p4 = view.analysis.confusion("digits-cnn"), view.analysis.confusion("digits-p4cnn")
    assert cnn.degrees == 180 and cnn.six_as_nine > p4.six_as_nine
    body = view._confusion_body()
    assert not isinstance(body, pn.pane.Alert)
    assert f"{100 * p4.six_as_nine:.1f}%" in body[1][1].object
    cells = re.findall(r'title="true (\w+), predicted (\w+)"[^>]*>(\d+)</td>', body[1][0].object)
    shown = {(t, q): int(c) for t, q, c in cells}  # the table's cells: (true, predicted) -> count
    assert len(shown) == 100
    assert shown[("6", "9")] == p4.confusion[6, 9] and shown[("9", "6")] == p4.confusion[9, 6]
    assert sum(shown.values()) == p4.confusion.sum()
    d = view.analysis.deepfool(1)
    assert d.max_difference <= 1e-6 and abs(d.norm_rotated - d.norm_upright) <= 1e-6
    assert not isinstance(view._deepfool_body(), pn.pane.Alert)


def test_accuracy_sweep_runs_in_the_background_and_plots_both_models(state):
    view = SymmetryView(state=state)
    asyncio.run(view._on_sweep())
    out = view._sweep_out.objects
    assert len(out) == 1 and not isinstance(out[0], pn.pane.Alert)
    table = out[0][1].object
    assert list(table["model"]) == ["digits-cnn", "digits-p4cnn"]
    p4 = table[table["model"] == "digits-p4cnn"].iloc[0]
    assert p4["0°"] == p4["90°"] == p4["180°"] == p4["270°"]
    sweeps = view.analysis.sweeps()
    data = datasets.load("digits")
    model = zoo.load("digits-cnn")
    with torch.no_grad():
        upright = (model(torch.as_tensor(data.X_test)).argmax(1).numpy() == data.y_test).mean()
    assert sweeps["digits-cnn"].accuracy[0] == pytest.approx(upright)


def test_no_model_gives_a_message_not_an_error(state):
    view = SymmetryView(state=state, models=[])
    assert "Pick at least one model" in view._rotations_body().object


def test_regions_on_the_symmetric_plane_are_symmetric_for_p4_only(state):
    view = SymmetryView(state=state, sample=0)
    asyncio.run(view._on_regions())
    out = view._regions_out.objects
    assert len(out) == 1 and not isinstance(out[0], pn.pane.Alert)
    results = view.analysis.symmetric_regions()
    assert results["digits-p4cnn"][2] < 1e-12 and results["digits-cnn"][2] > 1e-4
    assert len(results["digits-p4cnn"][1].polygons) > 4


def test_compare_models_offers_the_sessions_own_models_it_can_use(state, tmp_path):
    view = SymmetryView(state=state)
    choice = next(iter(view.__panel__().select(pn.widgets.MultiChoice)))
    assert "digits-resnet" not in choice.options and "layers" in view.analysis.refused()["digits-resnet"]
    torch.manual_seed(0)
    mine, moons = (nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)),
                   nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)))
    zoo.save(mine, tmp_path / "mine.pt", input_shape=(64,))
    zoo.save(moons, tmp_path / "moons.pt", input_shape=(2,))
    name = state.add_upload("mine.pt", (tmp_path / "mine.pt").read_bytes())
    other = state.add_upload("moons.pt", (tmp_path / "moons.pt").read_bytes())
    assert name in choice.options and other not in choice.options  # the widget follows the session's uploads
    assert "8x8 digits" in view.analysis.refused()[other]
    assert "moons.pt" in view._not_offered().object
    choice.value = ["digits-p4cnn", name]
    assert view.analysis.models == ["digits-p4cnn", name]
    direct = eq.rotation_predictions(mine, datasets.load("digits").X_test[0], [0, 90, 180, 270, 45])
    np.testing.assert_allclose(view.analysis.predictions(name).probabilities, direct.probabilities, rtol=1e-6)
    assert not isinstance(view._rotations_body(), pn.pane.Alert) and not isinstance(view._errors_body(), pn.pane.Alert)
