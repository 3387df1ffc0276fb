"""The app state: everything a view needs to know about the user's choices.

One ``AppState`` per session (made in :func:`dashboard.app.create_app`). Its
parameters are plain values so the state can be synced to the URL: a shared
link opens the same model and tab.
"""

from __future__ import annotations

import param
from torch import nn

from explorer import datasets, zoo

from . import services

UPLOAD_PREFIX = "upload: "


def classifier_names() -> list[str]:
    """Zoo models the sidebar offers: the classifiers (generators live in the Inversion tab)."""
    return [name for name in zoo.names() if zoo.ENTRIES[name].task == "classifier"]


class AppState(param.Parameterized):
    """The chosen model (a zoo name or an uploaded file), its dataset and the open tab."""

    model_name = param.Selector(default="moons-mlp", objects=classifier_names(), doc="Zoo model or uploaded file")
    dataset_name = param.Selector(default="moons", objects=datasets.names(), doc="Data the model is shown on")
    tab = param.String(default="Overview", doc="Title of the open tab")
    message = param.String(default="", doc="Last error or notice for the user")

    def __init__(self, **params):
        self._uploads: dict[str, nn.Module] = {}
        super().__init__(**params)
        self._choose_dataset()

    # -- the model -------------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        if self.model_name in self._uploads:
            return self._uploads[self.model_name]
        return services.zoo_model(self.model_name)

    @property
    def is_upload(self) -> bool:
        return self.model_name in self._uploads

    @property
    def dataset(self) -> datasets.Dataset:
        return services.dataset(self.dataset_name)

    @property
    def is_2d(self) -> bool:
        return self.dataset.num_features == 2

    def card(self) -> dict:
        """The zoo card, or a card measured on the spot for an uploaded model."""
        if self.is_upload:
            return {"name": self.model_name, "description": "Uploaded by you.", "dataset": self.dataset_name,
                    "task": "classifier",
                    "parameters": sum(p.numel() for p in self.model.parameters())}
        return zoo.card(self.model_name)

    def add_upload(self, filename: str, data: bytes) -> str:
        """Read an uploaded checkpoint and select it; raises with a user-facing message."""
        model = services.uploaded_model(data)
        if not services.compatible_datasets(model):
            raise ValueError(
                "The model loads, but no built-in dataset fits it: it needs inputs of 2 or 64 "
                "features and as many outputs as the dataset has classes."
            )
        return self.add_model(UPLOAD_PREFIX + filename, model)

    def add_model(self, name: str, model: nn.Module, dataset_name: str | None = None) -> str:
        """Make ``model`` (uploaded, or trained in the Training tab; with its ``explorer_key`` set, as
        the caches hash models by it) the session's model under ``name``."""
        self._uploads[name] = model
        self.param.model_name.objects = [*classifier_names(), *self._uploads]
        if dataset_name is not None:
            self.dataset_name = dataset_name  # kept by _choose_dataset when it fits the model
        self.model_name = name
        return name

    @param.depends("model_name", watch=True)
    def _choose_dataset(self):
        if self.is_upload:
            allowed = services.compatible_datasets(self.model)
        else:
            allowed = [zoo.card(self.model_name)["dataset"]]
        if self.dataset_name not in allowed:
            self.dataset_name = allowed[0]
