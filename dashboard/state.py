"""The app's state: the table of tabs, the user's choices, and links that carry them.

- :data:`TABS`: one row per tab (its title and the prefix of its settings in a link, with the
  prefixes older links used). TensorFlow Playground's ``src/state.ts`` is the model: one table
  drives both reading and writing the URL.
- :class:`AppState`: one per session (made in :func:`dashboard.app.create_app`): the model, its
  dataset, the open tab, and the session's own models and datasets (model and dataset names
  resolve here and nowhere else).
- Links: :func:`url_key` writes a setting's key, :func:`settings_from` reads a tab's settings
  from a link (checking each value against its parameter), :func:`state_from` the model and
  tab, :func:`link_query` the link a teacher shares, :func:`link_notice` what the page says of
  values it did not use.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import param
from panel.util import parse_query
from torch import nn

from explorer import datasets, zoo

from . import services
from .safe_text import MAX_QUOTE, bounded
from .tabs.bounds import zoo_classifiers

UPLOAD_PREFIX = "upload: "


@dataclass(frozen=True)
class Tab:
    """A tab: its title, the prefix of its settings in a link (``regions.layer``), and the prefixes
    links made before used for the same settings (read, never written)."""

    title: str
    prefix: str
    old_prefixes: tuple[str, ...] = ()


# The app's tabs, in order (dashboard.app pairs each with its view)
TABS = (Tab("Overview", "overview"), Tab("Linear regions", "regions"), Tab("Spectra", "spectra"),
        Tab("Adversarial", "adversarial"), Tab("Inversion", "inversion"),
        Tab("Inverse problems", "inverse", old_prefixes=("problems",)), Tab("Symmetry", "symmetry"),
        Tab("Training", "training"))
TAB_TITLES = tuple(tab.title for tab in TABS)
TAB_BY_TITLE = {tab.title: tab for tab in TABS}

# Bounds of the settings a link or a client may send: a value outside them is refused by the
# setting's parameter (and a widget showing it is set back), never used.


def classifier_names() -> list[str]:
    """The zoo's classifiers (generators live in the Inversion tab)."""
    return zoo_classifiers()


def reconstruction_names() -> list[str]:
    """The reconstruction networks of the Inverse problems tab: the zoo's trained ones and FIRENET."""
    return [*(name for name in zoo.names() if zoo.ENTRIES[name].task == "reconstruction"), services.FIRENET]


def sidebar_names() -> list[str]:
    """Zoo models the sidebar offers: the classifiers, then the reconstruction networks."""
    return [*classifier_names(), *reconstruction_names()]


class AppState(param.Parameterized):
    """The chosen model (a zoo name or an uploaded file), its dataset and the open tab.

    Uploaded models (``_uploads``) and datasets (``_datasets``) belong to this session only.
    """

    model_name = param.Selector(default="moons-mlp", objects=sidebar_names(), doc="Zoo model or uploaded file")
    dataset_name = param.Selector(default="moons", objects=datasets.names(), doc="Data the model is shown on")
    tab = param.Selector(default="Overview", objects=list(TAB_TITLES), doc="Title of the open tab")
    message = param.String(default="", doc="Last error or notice for the user")
    uploads = param.List(default=[], item_type=str, doc="Names of this session's own models (uploaded or trained)")

    def __init__(self, **params):
        self._uploads: dict[str, nn.Module] = {}
        self._datasets: dict[str, datasets.Dataset] = {}  # this session's own datasets, by name
        super().__init__(**params)
        self._choose_dataset()

    # -- the model -------------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        if self.model_name in self._uploads:
            return self._uploads[self.model_name]
        if self.model_name == services.FIRENET:
            return services.firenet_model()
        return services.zoo_model(self.model_name)

    def model_by_name(self, name: str) -> nn.Module:
        """One of this session's models by name: its own (uploaded or trained), FIRENET or the zoo's."""
        if name in self._uploads:
            return self._uploads[name]
        if name == services.FIRENET:
            return services.firenet_model()
        if name not in zoo.names():
            raise KeyError(f"The model '{bounded(name, MAX_QUOTE)}' is not one of this session's.")
        return services.zoo_model(name)

    def comparable_models(self) -> list[str]:
        """The classifiers a tab may compare: the zoo's and this session's own."""
        return [*classifier_names(), *self._uploads]

    @property
    def is_upload(self) -> bool:
        return self.model_name in self._uploads

    @property
    def dataset(self) -> datasets.Dataset:
        return self.dataset_by_name(self.dataset_name)

    @property
    def is_2d(self) -> bool:
        return self.dataset.num_features == 2

    @property
    def is_reconstruction(self) -> bool:
        """The model maps measurements to a signal (Inverse problems tab), not inputs to classes."""
        return self.dataset.is_reconstruction

    def card(self) -> dict:
        """The zoo card, or a card measured on the spot for an uploaded model."""
        if self.is_upload:
            return {"name": self.model_name, "description": "Uploaded by you.", "dataset": self.dataset_name,
                    "task": "classifier",
                    "parameters": sum(p.numel() for p in self.model.parameters())}
        if self.model_name == services.FIRENET:
            return services.firenet_card()
        return zoo.card(self.model_name)

    def add_upload(self, filename: str, data: bytes) -> str:
        """Read an uploaded checkpoint and select it; raises with a user-facing message."""
        model = services.uploaded_model(data)
        if not services.compatible_datasets(model, self._datasets):
            n_in, n_out = services.model_sizes(model)
            raise ValueError(
                f"The model loads, but no built-in dataset fits it, nor any of yours: it takes {n_in:,} input "
                f"values and gives {n_out} outputs. Add a dataset with {n_in:,} features and {n_out} classes "
                "first (Your own data, below)."
            )
        return self.add_model(UPLOAD_PREFIX + bounded(filename, MAX_QUOTE), model)

    def add_model(self, name: str, model: nn.Module, dataset_name: str | None = None) -> str:
        """Make ``model`` (uploaded, or trained in the Training tab; with its ``explorer_key`` set, as
        the caches hash models by it) the session's model under ``name``."""
        self._uploads[name] = model
        self.param.model_name.objects = [*sidebar_names(), *self._uploads]
        self.uploads = list(self._uploads)
        self.model_name = name  # offers the model the datasets that fit it
        if dataset_name is not None and dataset_name in self.param.dataset_name.objects:
            self.dataset_name = dataset_name  # the data it was trained on
        return name

    # -- the user's datasets -------------------------------------------------------------------
    def add_dataset(self, files: dict[str, bytes], label="last", header="auto") -> str:
        """Read uploaded data files into this session's datasets; select the dataset when the model fits it.

        Raises DatasetError with the reason; nothing the session had changes then.
        """
        name, data = services.data_store.read_upload(files, label=label, header=header)
        self._datasets[name] = data
        self._choose_dataset()
        if name in self.param.dataset_name.objects:
            self.dataset_name = name
        return name

    def dataset_by_name(self, name: str) -> datasets.Dataset:
        """One of the datasets this session may use (built in, the folder's, its own): another
        session's upload is not found here, whatever its name."""
        if name in self._datasets:
            return self._datasets[name]
        if name.startswith(services.data_store.UPLOAD_PREFIX):
            raise KeyError(f"The dataset '{bounded(name, MAX_QUOTE)}' is not one of this session's; add it in the "
                           "sidebar.")
        return services.dataset(name)

    def models_for(self, data: datasets.Dataset) -> list[str]:
        """The models of this session (zoo classifiers and uploads) that fit the dataset."""
        models = {name: services.zoo_model(name) for name in classifier_names()} | self._uploads
        return [name for name, model in models.items() if services.fits(model, data)]

    @param.depends("model_name", watch=True)
    def _choose_dataset(self):
        """Offer the model every dataset that fits it; keep the chosen one when it fits.

        A zoo model is shown on its own built-in dataset or on a folder's or the user's dataset
        that fits; an uploaded model on every dataset that fits."""
        fitting = services.compatible_datasets(self.model, self._datasets)
        if self.is_upload:
            allowed = fitting
        else:
            own = self.card()["dataset"]
            allowed = [own, *(name for name in fitting if name not in datasets.names())]
        self.param.dataset_name.objects = allowed
        if self.dataset_name not in allowed:
            self.dataset_name = allowed[0]


# -- links ------------------------------------------------------------------------------------------

def settings_class(view_class):
    """The class whose parameters are a tab's URL_SETTINGS: its analysis (or the view itself)."""
    return getattr(view_class, "analysis_class", view_class)


def url_key(tab_title: str, setting: str) -> str:
    """The query-string key of a tab's setting, e.g. ``adversarial.norm``."""
    return f"{TAB_BY_TITLE[tab_title].prefix}.{setting}"


def _keys_read(tab_title: str, setting: str) -> list[str]:
    """The keys a link may carry a setting under: today's, then older links'."""
    tab = TAB_BY_TITLE[tab_title]
    return [f"{prefix}.{setting}" for prefix in (tab.prefix, *tab.old_prefixes)]


def _as_parameter_value(parameter: param.Parameter, value):
    """A value Panel's query parser read as the parameter expects it: it reads a negative integer
    ('-1') as a float, and a text that looks like a number ('8', Training's one hidden width) as that number."""
    if isinstance(parameter, param.Integer) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(parameter, param.String) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def settings_from(query: dict, title: str, view_class, refused: list | None = None) -> dict:
    """The tab's URL_SETTINGS found in the query (under today's key or an older one), as parameter
    values. A value its parameter does not accept (type, bounds, options, pattern) is dropped, and
    its key added to ``refused``."""
    settings = {}
    owner = settings_class(view_class)
    for name in getattr(owner, "URL_SETTINGS", ()):
        key = next((key for key in _keys_read(title, name) if key in query), None)
        if key is None:
            continue
        try:
            value = _as_parameter_value(owner.param[name], owner.param[name].deserialize(query[key]))
            owner.param[name]._validate(value)
            settings[name] = value
        except Exception:  # a bad value in a link: the default, and a notice
            if refused is not None:
                refused.append(key)
    return settings


def link_query(search: str, view_classes: dict) -> str:
    """The query string of a link to the view ``search`` shows (``view_classes``: title -> the tab's
    view), without the tab settings left at their defaults, and with older links' keys written as
    today's (``?model=digits-cnn&tab=Spectra&spectra.layer=0`` -> ``model=digits-cnn&tab=Spectra``):
    the link a class opens, and the page the server keeps ready."""
    owners = {}
    for title, view_class in view_classes.items():
        for name in getattr(settings_class(view_class), "URL_SETTINGS", ()):
            for key in _keys_read(title, name):
                owners[key] = (settings_class(view_class), name, url_key(title, name))
    read = parse_query(search)  # the values as the page reads them (Panel's Location)
    kept = {}
    for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        if key in owners:
            owner, name, key_now = owners[key]
            try:
                if owner.param[name].deserialize(read[key]) == owner.param[name].default:
                    continue
            except Exception:
                pass  # an unreadable value stays: the page shows its default as for any link
            if key != key_now and key_now in kept:
                continue  # today's key wins over an older one
            key = key_now
        kept[key] = value
    return urlencode(list(kept.items()))


def sync_to_link(location, owner: param.Parameterized, keys: dict[str, str], refuse) -> None:
    """Keep ``owner``'s parameters and the address bar's ``keys`` (parameter -> query key) in step.

    When the address bar sends a value its parameter refuses, Panel keeps the whole batch away
    from ``owner`` and hands it here: the keys whose own value the parameter refuses go to
    ``refuse(keys)``. Panel reads a negative integer it wrote itself (``regions.layer=-1``) back
    as ``-1.0``, which an Integer parameter refuses: such an echo of the current value is not a
    refusal (before, every Linear regions link showed a notice for ``regions.layer`` and
    ``regions.unit``)."""
    def refused_keys(mapped: dict) -> None:
        refused, readable = [], {}
        for name, value in mapped.items():
            value = _as_parameter_value(owner.param[name], value)
            try:
                owner.param[name]._validate(value)
                if value != getattr(owner, name):
                    readable[name] = value  # e.g. training.hidden=8 typed in the address bar
            except Exception:
                refused.append(keys[name])
        if readable:
            owner.param.update(readable)
        if refused:
            refuse(refused)

    location.sync(owner, keys, on_error=refused_keys)


def state_from(query: dict, refused: list) -> AppState:
    """The session's state with the link's model and tab applied before anything is built; a model
    or tab the link names that does not exist is not used, and its key added to ``refused``."""
    state = AppState()
    if "model" in query:
        if query["model"] in state.param.model_name.objects:
            state.model_name = query["model"]
        else:
            refused.append("model")
    if "tab" in query:
        if query["tab"] in TAB_TITLES:
            state.tab = query["tab"]
        else:
            refused.append("tab")
    return state


def link_notice(refused: list[str]) -> str:
    """What a page says of the link's values it did not use (only the keys: the values are the
    link's, and are not shown)."""
    if not refused:
        return ""
    keys = ", ".join(f"`{key}`" for key in dict.fromkeys(refused))
    return (f"The link's value for {keys} was not used: it is not one of the setting's choices or "
            "within its range. The view shows the setting's default instead.")
