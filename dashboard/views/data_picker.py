"""The sidebar's "Your own data": upload a CSV, a .npz or MNIST-format files, read the dataset's card.

A refused file shows the reader's reason (the line, column or field) and changes nothing:
the session keeps its datasets, models and choices.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from explorer import datasets, zoo

from ..safe_text import MAX_QUOTE, bounded, message, quoted
from ..serving.uploads import Uploader, limit_text
from ..state import AppState
from .common import error_alert

HEADER_CHOICES = {"detect": "auto", "yes": True, "no": False}


def card_markdown(card: dict, models: list[str]) -> str:
    """The dataset card's facts in words (the class counts go in a table beside it)."""
    shape = card["image_shape"]
    inputs = (f"images {' x '.join(map(str, shape))}" if shape else f"{card['features']:,} features"
              + (f" ({', '.join(quoted(name, 30) for name in card['feature_names'][:6])}"
                 f"{', ...' if card['features'] > 6 else ''})" if card["feature_names"] else ""))
    lo, hi = card["value_range"]
    if models:
        fit = ", ".join(quoted(model) for model in models[:8]) + (", ..." if len(models) > 8 else "")
    else:
        fit = f"none yet: upload a model with {card['features']:,} inputs and {card['classes']} outputs"
    return "\n\n".join([
        f"**{quoted(card['name'])}**: {card['samples']:,} samples, {inputs}, {card['classes']} classes.",
        f"**Split:** {card['train']:,} train / {card['test']:,} test ({card['split']}).",
        f"**Values:** {lo:.4g} to {hi:.4g} (clipping range {card['domain'][0]:.4g} to {card['domain'][1]:.4g}).",
        f"**Models that fit:** {fit}."])


class DataPicker(pn.viewable.Viewer):
    """Dataset upload with the reader's settings, the refusal or success message, and the dataset's card."""

    state = param.ClassSelector(class_=AppState)
    label = param.String(default="last", regex=r"^[^\n]{0,200}$",
                         doc="CSV: the label column, by name or number (0 = first; last)")
    header = param.Selector(default="detect", objects=list(HEADER_CHOICES), doc="CSV: is the first row a header?")

    def __init__(self, **params):
        super().__init__(**params)
        self._upload = Uploader(multiple=True, max_files=datasets.MAX_FILES, name="",
                                css_classes=["data-upload"])
        self._upload.param.watch(self._on_upload, "value")
        self._upload.param.watch(self._on_refused, "refused")
        self._status = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["data-status"])
        self._again = pn.widgets.Button(label="Read the files again with these settings", visible=False)
        self._again.on_click(lambda event: self._read(self._last))
        self._last: dict[str, bytes] = {}

    def _on_upload(self, event):
        """The files in the upload box are the dataset: read them whenever one arrives (a file
        taken out of the box leaves the loaded dataset as it is)."""
        if self._upload.arrived():
            self._last = self._upload.files()
            self._again.visible = True
            self._read(self._last)

    def _on_refused(self, event):
        self._status.param.update(object=f"**{message(event.new)}**", alert_type="danger", visible=True)

    def _read(self, files: dict[str, bytes]):
        shown = quoted(", ".join(sorted(files)), limit=120)
        try:
            name = self.state.add_dataset(files, label=self.label, header=HEADER_CHOICES[self.header])
        except (datasets.DatasetError, ValueError) as exc:
            more = " (take a file out of the box with its x)" if len(files) > 1 else ""
            self._status.param.update(object=f"**{shown} was not loaded.** {message(exc)}{more}", alert_type="danger",
                                      visible=True)
            return
        except Exception as exc:  # anything else a hostile file provokes: refuse it, keep the session
            self._status.param.update(object=f"**{shown} was not loaded.** It could not be read "
                                      f"({type(exc).__name__}).", alert_type="danger", visible=True)
            return
        if self.state.dataset_name == name:
            self._status.param.update(object=f"Loaded **{quoted(name)}**, shown with {quoted(self.state.model_name)}.",
                                      alert_type="success", visible=True)
        else:
            data = self.state.dataset_by_name(name)
            text = card_markdown(datasets.card(data), self.state.models_for(data))
            self._status.param.update(
                object=f"Loaded **{quoted(name)}**, but {quoted(self.state.model_name)} does not fit it.\n\n{text}",
                alert_type="warning", visible=True)

    @param.depends("state.dataset_name", "state.model_name")
    def _card(self):
        try:
            data = self.state.dataset
            card = datasets.card(data)
            counts = pd.DataFrame({"class": [bounded(name, MAX_QUOTE) for name in card["counts"]],
                                   "samples": list(card["counts"].values())})
            return pn.Column(
                pn.pane.Markdown(card_markdown(card, self.state.models_for(data)), css_classes=["dataset-card"]),
                pn.pane.DataFrame(counts.head(20), index=False, sizing_mode="stretch_width"))
        except Exception as exc:
            return error_alert(exc, "The dataset card")

    def _upload_controls(self) -> list:
        return [
            pn.pane.Markdown(
                "A CSV (numeric columns and a label column), a `.npz` with `X` and `y` (optionally "
                "`X_test`, `y_test`, `class_names`, `image_shape`), or MNIST-format IDX files (images and "
                "labels, train and optionally test, gzipped or not); up to "
                f"{limit_text(zoo.MAX_UPLOAD_BYTES)} an upload and {datasets.MAX_SAMPLES:,} samples; the files "
                "in the box are read together:"),
            pn.Row(pn.widgets.TextInput.from_param(self.param.label, name="CSV label column", width=150),
                   pn.widgets.Select.from_param(self.param.header, name="CSV header row", width=120)),
            self._upload,
            self._again,
        ]

    def __panel__(self):
        """The dataset card, and the upload controls once asked for (most sessions never upload
        data: their page is built without them; built alone they cost about a tenth of a landing
        session's server CPU, 0.05 of 0.55 s measured)."""
        uploads = pn.Column(sizing_mode="stretch_width")
        show = pn.widgets.Button(label="Upload your own data…", css_classes=["data-upload-open"])
        show.on_click(lambda event: setattr(uploads, "objects", self._upload_controls()))
        uploads.objects = [show]
        return pn.Column(
            pn.pane.Markdown("**Your own data**"),
            uploads,
            self._status,
            pn.pane.Markdown("#### Dataset card"),
            self._card,
        )
