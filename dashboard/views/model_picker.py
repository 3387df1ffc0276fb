"""The sidebar: pick a zoo model or upload a checkpoint or an ONNX model, and read its model card."""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param

from explorer import nets, zoo

from .. import services
from ..safe_text import message, quoted
from ..serving.uploads import Uploader, limit_text
from ..state import AppState
from .common import error_alert, percent
from .data_picker import DataPicker


class ModelPicker(pn.viewable.Viewer):
    """Model selector, checkpoint upload and the model card for one session."""

    state = param.ClassSelector(class_=AppState)

    def __init__(self, **params):
        super().__init__(**params)
        self._select = pn.widgets.Select.from_param(self.state.param.model_name, name="Model")
        self._dataset = pn.widgets.Select.from_param(self.state.param.dataset_name, name="Dataset")
        self._upload = Uploader(multiple=False, name="", css_classes=["model-upload"])
        self._upload.param.watch(self._on_upload, "value")
        self._upload.param.watch(self._on_refused, "refused")
        self._status = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["upload-status"])
        self._data = DataPicker(state=self.state)
        self._dataset_row = pn.Column(self._dataset)
        self.state.param.watch(self._show_dataset_choice, "dataset_name", what="objects")
        self._show_dataset_choice()

    def _show_dataset_choice(self, *events):
        """The dataset menu is shown when the model has more than one dataset to be seen on."""
        self._dataset_row.visible = len(self.state.param.dataset_name.objects) > 1

    def _on_refused(self, event):
        self._status.param.update(object=f"**{message(event.new)}**", alert_type="danger", visible=True)

    def _on_upload(self, event):
        arrived = self._upload.arrived()
        if not arrived:
            return  # a file was taken out of the box
        filename, data = list(arrived.items())[-1]
        try:
            name = self.state.add_upload(filename, data)
        except (zoo.CheckpointError, nets.UnsupportedLayerError, ValueError) as exc:
            self._status.param.update(object=f"**{quoted(filename)} was not loaded.** {message(exc)}",
                                      alert_type="danger", visible=True)
            return
        except Exception as exc:  # anything else a hostile file provokes: refuse it, keep the session
            self._status.param.update(object=f"**{quoted(filename)} was not loaded.** It could not be read "
                                      f"({type(exc).__name__}).", alert_type="danger", visible=True)
            return
        self._status.param.update(object=f"Loaded **{quoted(name)}**.", alert_type="success", visible=True)

    @param.depends("state.model_name", "state.dataset_name")
    def _card(self):
        try:
            return self._render_card()
        except Exception as exc:  # a broken card must not take the sidebar down
            return error_alert(exc, "The model card")

    def _render_card(self):
        card = self.state.card()
        model = self.state.model
        facts = [f"### {quoted(card['name'])}", card["description"], "",
                 f"**Dataset:** {quoted(card['dataset'])}"]
        recipe = card.get("recipe")
        if recipe:
            shown = {"l1": ("epochs", "lr", "l1"), "adversarial": ("epochs", "lr", "eps", "pgd_steps")}
            settings = ", ".join(f"{k}={recipe[k]}" for k in shown.get(recipe["method"], ("epochs", "lr")))
            facts.append(f"**Training:** {recipe['method']} ({settings})")
        if "test_accuracy" in card:
            facts.append(f"**Test accuracy (card):** {percent(card['test_accuracy'])} "
                         f"on {card['test_samples']} samples")
        if self.state.is_reconstruction:
            if "test_relative_error" in card:
                facts.append(f"**Relative error (card):** {card['test_relative_error']:.3g} (median, "
                             f"{card['test_samples']} signals)")
            errors = services.reconstruction_errors(model, self.state.dataset_name)
            facts.append(f"**Relative error (measured now):** {np.median(errors):.3g} (median, {len(errors)} "
                         "test signals)")
        else:
            measured = services.evaluate(model, self.state.dataset_name).accuracy
            facts.append(f"**Test accuracy (measured now):** {percent(measured)}")
        facts.append(f"**Parameters:** {card['parameters']:,}")
        table = pd.DataFrame(services.architecture(model))
        table.columns = ["Layer", "Type", "Output shape", "Parameters"]
        return pn.Column(pn.pane.Markdown("\n\n".join(facts), css_classes=["model-card"]),
                         pn.pane.DataFrame(table, index=False, sizing_mode="stretch_width"))

    def __panel__(self):
        return pn.Column(
            self._select,
            self._dataset_row,
            pn.pane.Markdown("**Your own model** — a file written by `explorer.zoo.save(model, path)`, or an "
                             f"ONNX model from any framework, up to {limit_text(zoo.MAX_UPLOAD_BYTES)}:"),
            self._upload,
            self._status,
            self._card,
            pn.layout.Divider(),
            self._data,
        )
