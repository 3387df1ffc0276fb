"""The Symmetry tab's pictures: plain functions from the analysis's results to HTML, bokeh or HoloViews.

Small pictures and confusion matrices are HTML (inline PNG images, tables: a fraction of a bokeh
figure's cost per session); legends sit beside or below the data; plots have the save tool (PNG).
"""

from __future__ import annotations

import holoviews as hv
import numpy as np

from explorer import equivariance as eq

from ...safe_text import quoted
from ...views.common import (
    CLASS_COLORS,
    bokeh_grouped_bars,
    html_confusion,
    html_gallery,
    percent,
)
from .analysis import angle_label


def gallery(pictures, cols: int, cmap="gray_r", clim=(0.0, 1.0), size=100) -> str:
    """Small pictures with row 0 at the bottom (the equivariance module's orientation) and their
    captions, as one HTML grid."""
    return html_gallery([(img[::-1], caption) for img, caption in pictures], cols, size=size, cmap=cmap, clim=clim)


def rotated_digits(pred: eq.RotationPredictions) -> str:
    """The digit at each angle of the predictions, captioned with the angle."""
    captions = [angle_label(a, p).replace(" (interpolated, not in p4)", "\n(interpolated)")
                for a, p in zip(pred.angles, pred.in_p4)]
    return gallery(list(zip(pred.images, captions)), cols=len(pred.images))


def probability_bars(name: str, pred: eq.RotationPredictions, names):
    """A model's class probabilities at each angle, grouped by class; the angles keyed right of the bars."""
    angles = [angle_label(a, p) for a, p in zip(pred.angles, pred.in_p4)]
    return bokeh_grouped_bars(pred.probabilities, names, angles, title=f"{name}: class probabilities per angle")


def error_text(name: str, err: eq.EquivarianceErrors, samples: int) -> str:
    return f"**{quoted(name)}**: worst relative error {err.per_layer.max():.2e} (float64, {samples} test digits)"


def feature_maps(fm: eq.FeatureMaps, cols: list[int], lim: float) -> str:
    """One row per input rotation, one column per orientation plane of the channel (one row if one plane)."""
    s_count = fm.orientations
    maps = [(fm.maps[r, k], f"input {90 * r}°" + (f", s = {j}" if s_count > 1 else ""))
            for r in range(4) for j, k in enumerate(cols)]
    return gallery(maps, cols=s_count if s_count > 1 else 4, cmap="RdBu_r", clim=(-lim, lim), size=110)


def maps_text(fm: eq.FeatureMaps, mismatch: float) -> str:
    if fm.kind == "regular":
        text = ("Row r (input turned by 90r°) is row 0 turned by 90r° **and shifted r columns to the right** "
                "along the orientation axis (cyclically): the layer is equivariant.")
    else:
        text = f"This layer's maps are a {fm.kind} field: only a rotation of the planes is expected."
    return f"{text} Undoing the rotation and the shift, the rows differ by **{mismatch:.2e}** (relative)."


def confusion(name: str, c: eq.SixNine, names) -> str:
    return html_confusion(c.confusion, names, f"{name} at {c.degrees:g}°: accuracy {percent(c.accuracy)}")


def six_nine_text(c: eq.SixNine) -> str:
    return f"6 read as 9: **{percent(c.six_as_nine)}**; 9 read as 6: **{percent(c.nine_as_six)}**"


def deepfool(d: eq.RotatedDeepFool) -> str:
    """DeepFool's r at the digit, at the turned digit, and the first turned: the last two agree."""
    lim = float(max(np.abs(d.r_upright).max(), np.abs(d.r_rotated).max())) or 1.0
    return gallery([(a.reshape(8, 8), t) for a, t in (
        (d.r_upright, "r at the digit"), (d.r_rotated, "r at the digit turned 90°"),
        (d.rotated_r_upright, "r at the digit, turned 90°"))], cols=3, cmap="RdBu_r", clim=(-lim, lim), size=150)


def deepfool_text(focus: str, d: eq.RotatedDeepFool) -> str:
    return (f"DeepFool on **{quoted(focus)}** (L2, float64): ||r|| = {d.norm_upright:.6f} upright and "
            f"{d.norm_rotated:.6f} turned; the two right-hand images differ by at most **{d.max_difference:.2e}**.")


def accuracy_sweeps(sweeps: dict):
    """Test accuracy against rotation angle, one colour per model (legend below), dots at the p4 angles."""
    curves = []
    for i, (name, s) in enumerate(sweeps.items()):
        color = CLASS_COLORS[i % len(CLASS_COLORS)]
        curves.append(hv.Curve((s.angles, s.accuracy), "angle (degrees)", "test accuracy", label=name).opts(
            color=color, tools=["hover"]))
        curves.append(hv.Scatter((s.angles[s.in_p4], s.accuracy[s.in_p4]), "angle (degrees)",
                                 "test accuracy").opts(color=color, size=8))
    lines = [hv.VLine(a).opts(color="#999999", line_dash="dotted") for a in (90, 180, 270)]
    return hv.Overlay(curves + lines).opts(width=600, height=360, ylim=(0, 1.02), legend_position="bottom",
                                           legend_cols=2, tools=["save"],
                                           title="Test accuracy against rotation (dots: p4 angles)")


def symmetric_regions(name: str, part):
    """The plane's exact regions of the first hidden layer, coloured by how many units are active
    (the same on regions the rotation maps onto each other), equal aspect."""
    active = part.patterns.sum(1)
    return hv.Polygons([{"u1": q[:, 0], "u2": q[:, 1], "active units": int(a)}
                        for q, a in zip(part.polygons, active)], ["u1", "u2"], "active units").opts(
        color="active units", cmap="viridis", line_color="white", line_width=0.3, colorbar=True,
        width=380, height=340, data_aspect=1, tools=["hover", "save"],
        title=f"{name}: {len(part.polygons)} regions")


REGIONS_TEXT = ("The plane through the centre of the digit's orbit, spanned by b = (x − g²x)/2 and g b: turning the "
                "image is turning this plane by 90°. Exact regions of the first hidden layer, coloured by how many "
                "units are active; for the p4 net the picture has the 4-fold symmetry of its tied weights.")
