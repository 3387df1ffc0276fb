"""Every result table a tab shows can be downloaded as CSV, and the CSV holds the table's numbers.

Each view is built as its own tests build it (no server); its background work is run to the end
with ``asyncio.run``; every ``FileDownload`` in the result is clicked (its callback called) and the
CSV compared, column by column, with the DataFrame shown next to it.
"""

import asyncio
import csv
import io

import numpy as np
import pandas as pd
import panel as pn
import pytest

from dashboard.views import common
from dashboard.views.common import csv_download


def _csv(widget: pn.widgets.FileDownload) -> bytes:
    data = widget.callback().read()
    return data if isinstance(data, bytes) else data.encode("utf-8")


def text(value) -> str:
    """A text cell as the CSV holds it: an empty cell and a missing value are the same."""
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def assert_same_table(raw: bytes, shown: pd.DataFrame) -> None:
    """The CSV ``raw`` has ``shown``'s column names and, column by column, its values (numbers to
    full precision, the rest as text, a cell a spreadsheet would read as a formula after a quote;
    NaN and "" as an empty cell)."""
    header = next(csv.reader(io.StringIO(raw.decode("utf-8"))))
    assert header == [str(c) for c in shown.columns]
    read = pd.read_csv(io.BytesIO(raw), keep_default_na=False, na_values=[""])
    assert len(read) == len(shown)
    for j, column in enumerate(shown.columns):
        want, got = shown.iloc[:, j], read.iloc[:, j]
        if pd.api.types.is_numeric_dtype(want) and not pd.api.types.is_bool_dtype(want):
            kind = want.dtype if pd.api.types.is_float_dtype(want) else np.float64  # float32 is written as float32
            np.testing.assert_array_equal(got.to_numpy(float).astype(kind), want.to_numpy(kind), err_msg=str(column))
        else:
            written = ["'" + v if isinstance(v, str) and v.startswith(common.FORMULA_START) else v for v in want]
            assert [text(v) for v in got] == [text(v) for v in written], column  # a formula-like cell: quoted


def downloads(layout) -> list[tuple[pn.widgets.FileDownload, pd.DataFrame | None]]:
    """Each CSV button in ``layout`` with the table shown just above it in the same column (None
    where the button is under a plot: it downloads the plot's numbers)."""
    pairs = []
    for column in layout.select(pn.layout.ListLike):  # the layout itself too
        objects = list(column.objects)
        for i, obj in enumerate(objects):
            if isinstance(obj, pn.widgets.FileDownload):
                above = objects[i - 1] if i else None
                pairs.append((obj, above.object if isinstance(above, pn.pane.DataFrame) else None))
    return pairs


def check_downloads(layout, expected: dict) -> None:
    """The CSV buttons in ``layout`` are those ``expected`` names (file name: the view's DataFrame);
    the table shown above a button is that DataFrame, and its CSV holds the same values."""
    pairs = downloads(layout)
    assert sorted(w.filename for w, _ in pairs) == sorted(expected)
    for widget, shown in pairs:
        assert widget.label == "Download CSV" and not widget.embed
        want = expected[widget.filename]
        if shown is not None:
            if not isinstance(shown.index, pd.RangeIndex):  # a table with row names: the CSV's first column
                shown = shown.rename_axis(want.columns[0]).reset_index()
            pd.testing.assert_frame_equal(shown, want)
        assert_same_table(_csv(widget), want)


def test_the_helper_writes_when_clicked_and_refuses_other_names(monkeypatch):
    calls = []

    def table():
        calls.append(1)
        return pd.DataFrame({"a": [1 / 3, np.nan], "b": ["n/a", "x"]})

    widget = csv_download(table, "some-table.csv")
    assert not calls  # nothing is written before the click
    assert_same_table(_csv(widget), table())
    for bad in ("../x.csv", "x.txt", "X.csv", "a b.csv", "", "<b>.csv"):
        with pytest.raises(ValueError):
            csv_download(table(), bad)
    formula = pd.DataFrame({"class": ["=HYPERLINK(\"http://x\")", "cat", "@SUM(A1)"], "n": [-1, 2, 3]})
    read = pd.read_csv(io.BytesIO(_csv(csv_download(formula, "classes.csv"))))
    assert list(read["class"]) == ["'=HYPERLINK(\"http://x\")", "cat", "'@SUM(A1)"]  # text, not formulas
    assert list(read["n"]) == [-1, 2, 3]  # numbers stay numbers
    monkeypatch.setattr(common, "MAX_CSV_ROWS", 1)  # bounded
    assert _csv(csv_download(table(), "some-table.csv")).decode().splitlines() == ["a,b", f"{1 / 3!r},n/a"]


# -- Overview ---------------------------------------------------------------------------------------

def test_overview_confusion_matrix_downloads(state):
    from dashboard.tabs.overview.view import OverviewView
    from explorer import evaluation

    state.model_name = "digits-mlp"
    view = OverviewView(state=state)
    table = view.analysis.confusion_table()
    data = state.dataset
    library = evaluation.evaluate(state.model, data.X_test, data.y_test, data.num_classes).confusion
    np.testing.assert_array_equal(table.drop(columns=["true"]).to_numpy(), library)
    check_downloads(view._confusion(), {"confusion-matrix.csv": table})


# -- Linear regions ---------------------------------------------------------------------------------

def test_regions_stable_units_and_compression_download(state):
    from dashboard.tabs.regions.view import RegionsView

    view = RegionsView(state=state)
    asyncio.run(view._on_stability())
    (out,) = view._stab_out.objects
    check_downloads(out, {"stable-units.csv": view.analysis.stability_table().drop(columns=["seconds"]),
                          "compression.csv": view.analysis.compression_table(view.analysis.compression())})


def test_regions_recipe_table_downloads(state):
    from dashboard.tabs.regions.view import RegionsView

    state.model_name = "digits-mlp"
    view = RegionsView(state=state, samples="0, 1, 2", eps=0.02)
    asyncio.run(view._on_recipes())
    (out,) = view._recipe_out.objects
    check_downloads(out, {"training-recipes.csv": view.analysis.recipe_table()})


# -- Adversarial ------------------------------------------------------------------------------------

def test_adversarial_radii_table_downloads(state):
    from dashboard.tabs.adversarial.view import AdversarialView

    view = AdversarialView(state=state, sample=4)
    body = view._body()
    check_downloads(body, {"radii.csv": view.analysis.radii_table(view.analysis.sandwich())})


def test_adversarial_methods_and_zoo_robustness_download(state):
    from dashboard.tabs.adversarial.view import AdversarialView

    view = AdversarialView(state=state, sample=0)  # moons: its few zoo models are measured fast
    asyncio.run(view._on_compare())
    (out,) = view._compare_out.objects
    check_downloads(out, {"attack-methods.csv": view.analysis.compare_methods()})
    asyncio.run(view._on_zoo())
    (out,) = view._measure_out.objects
    check_downloads(out, {"robustness-zoo.csv": view.analysis.zoo_table()})


# -- Spectra ----------------------------------------------------------------------------------------

def test_spectra_layer_table_conv_operator_and_model_comparison_download(state):
    from dashboard.tabs.spectra.view import SpectraView

    state.model_name = "digits-cnn-orth"
    view = SpectraView(state=state, layer=0, compare=["digits-mlp", "digits-cnn-orth"])
    check_downloads(view._network_body(), {"layer-spectra.csv": view.analysis.layer_table()})
    assert len(view.analysis.layer_table()) == len(view.analysis.layers())
    check_downloads(view._operator_body(), {"conv-bounds.csv": view.analysis.bounds_table(),
                                            "conv-methods.csv": view.analysis.method_comparison()})
    check_downloads(view._compare_body(), {"model-spectra.csv": view.analysis.model_comparison()})


# -- Inversion --------------------------------------------------------------------------------------

def test_inversion_results_identifiability_and_sweeps_download(state):
    from dashboard.tabs.inversion.view import InversionView

    view = InversionView(state=state, sizes="10-20-40", methods=["layered", "ls"], sweep_ratios="2, 4",
                         sweep_trials=2, steps=50, restarts=1)
    problem, results = view.analysis.run()
    check_downloads(view._draw_run(problem, results),
                    {"inversion-results.csv": view.analysis.summary_table(results),
                     "identifiability.csv": view.analysis.identifiability_table(problem)})
    sweep = view.analysis.sweep()
    table = view.analysis.sweep_table(sweep)
    assert len(table) == len(sweep.ratios) * len(sweep.methods)
    check_downloads(view._draw_sweep(sweep), {"inversion-success-sweep.csv": table})
    noise = view.analysis.noise_sweep()
    check_downloads(view._draw_noise(noise), {"inversion-noise-sweep.csv": view.analysis.noise_table(noise)})


# -- Inverse problems -------------------------------------------------------------------------------

def test_inverse_accuracy_stability_and_twins_download(state):
    from dashboard.tabs.inverse.view import InverseView

    view = InverseView(state=state, restarts=2, inner=10, count=2, steps=5)
    acc = view.analysis.accuracy()
    check_downloads(view._draw_accuracy(acc), {"inverse-accuracy.csv": view.analysis.accuracy_table(acc)})
    st = view.analysis.stability()
    check_downloads(view._draw_stability(st), {"inverse-stability.csv": view.analysis.stability_table(st)})
    twins = view.analysis.twins()
    check_downloads(view._draw_twins(twins), {"inverse-twins.csv": view.analysis.twins_table(twins)})


# -- Symmetry ---------------------------------------------------------------------------------------

def test_symmetry_predictions_errors_confusion_and_sweep_download(state):
    from dashboard.tabs.symmetry.view import SymmetryView

    view = SymmetryView(state=state, sample=5, angle=30, confusion_angle=180)
    models = list(view.analysis.models)
    assert len(models) == 2
    shown = view.analysis.rotation_table()[["model", "angle", "prediction", "probability"]]
    check_downloads(view._rotations_body(), {"rotated-predictions.csv": shown})
    check_downloads(view._errors_body(), {f"equivariance-errors-{i + 1}.csv": view.analysis.error_table(name)
                                          for i, name in enumerate(models)})
    confusions = {f"confusion-{i + 1}.csv": view.analysis.confusion_table(name) for i, name in enumerate(models)}
    check_downloads(view._confusion_body(), confusions)
    p4 = confusions[f"confusion-{models.index('digits-p4cnn') + 1}.csv"].set_index("true")
    assert p4.loc["6", "predicted 9"] == view.analysis.confusion("digits-p4cnn").confusion[6, 9]
    sweeps = view.analysis.sweeps()
    check_downloads(view._draw_sweeps(sweeps), {"accuracy-at-p4-angles.csv": view.analysis.sweep_table(sweeps)})


# -- Training ---------------------------------------------------------------------------------------

def test_training_koopman_fit_downloads(state):
    from dashboard.tabs.training.analysis_koopman import loss_text
    from dashboard.tabs.training.view import TrainingView

    view = TrainingView(state=state, hidden="8", loss="mse", optimiser="sgd", lr=0.2, batch_size=0,
                        weight_decay=1e-3, snapshot_every=5)
    view.replay_to(60)
    k = view.analysis.koopman
    k.param.update(window=10, ahead=4, kind="node")
    asyncio.run(view._on_fit())
    fit, fc = k.last
    table = k.table((fit, fc))
    assert list(table["test loss"][:1]) == [fc.predicted_test_loss] and table["step"][0] == fc.step
    check_downloads(view._koopman_result, {"koopman-fit.csv": table, "koopman-eigenvalues.csv": k.eigenvalues()})
    text = view._koopman_result[0].object
    assert (f"test loss is **{loss_text(fc.predicted_test_loss)}** ({100 * fc.predicted_accuracy:.1f}% accuracy)"
            in text)


def test_training_confusion_matrix_downloads(state):
    from dashboard.tabs.training.view import TrainingView

    view = TrainingView(state=state, dataset="digits", hidden="8")
    view.replay_to(5)
    shown = view._confusion.object
    a = view.analysis
    check_downloads(view._live, {"training-confusion.csv": a.confusion_table(), "training-history.csv": a.history()})
    table = a.confusion_table()
    assert list(table["true"]) == list(shown["true"])
    assert (table.iloc[:, 1:].to_numpy() == shown.iloc[:, 1:].to_numpy()).all()
    assert table.iloc[:, 1:].to_numpy().sum() == len(a.data.y_test)
