"""The app: a FastListTemplate with the model picker in the sidebar and one tab per view.

``create_app()`` runs once per browser session, so every session gets its own
state and widgets. The state syncs to the URL (``?model=digits-cnn&tab=Overview``)
so a link opens the same view; a view lists the settings it shares in its
``URL_SETTINGS`` (e.g. ``?tab=Adversarial&adversarial.norm=linf``).
"""

from __future__ import annotations

import gc
from urllib.parse import parse_qsl, urlencode

import panel as pn
import param
from panel.util import parse_query

from . import jobs, offline
from .state import TAB_TITLES, AppState
from .views.adversarial import AdversarialView
from .views.common import error_alert
from .views.inverse import InverseView
from .views.inversion import InversionView
from .views.model_picker import ModelPicker
from .views.overview import OverviewView
from .views.regions import RegionsView
from .views.share import ShareBox
from .views.symmetry import SymmetryView
from .tabs.spectra.view import SpectraView
from .views.training import TrainingView

TITLE = "Network Explorer"
_process = {"gc_frozen": False}

# (tab title, Viewer class taking state=AppState), in the order of state.TAB_TITLES
TABS = list(zip(TAB_TITLES, (OverviewView, RegionsView, SpectraView, AdversarialView, InversionView, InverseView,
                             SymmetryView, TrainingView), strict=True))


def url_key(tab_title: str, setting: str) -> str:
    """The query-string key of a tab's setting, e.g. ``adversarial.norm``."""
    return f"{tab_title.split()[-1].lower()}.{setting}"


def settings_class(view_class):
    """The class whose parameters are a tab's URL_SETTINGS: its analysis (or the view itself)."""
    return getattr(view_class, "analysis_class", view_class)


def _settings_from(query: dict, title: str, view_class, refused: list | None = None) -> dict:
    """The view's URL_SETTINGS found in the query, as parameter values. A value its parameter does
    not accept (type, bounds, options, pattern) is dropped, and its key added to ``refused``."""
    settings = {}
    view_class = settings_class(view_class)
    for name in getattr(view_class, "URL_SETTINGS", ()):
        key = url_key(title, name)
        if key in query:
            try:
                value = view_class.param[name].deserialize(query[key])
                if isinstance(view_class.param[name], param.Integer) and isinstance(value, float) \
                        and value.is_integer():
                    value = int(value)  # Panel's query parser reads a negative integer ('-1') as a float
                view_class.param[name]._validate(value)
                settings[name] = value
            except Exception:  # a bad value in a link: the default, and a notice
                if refused is not None:
                    refused.append(key)
    return settings


def link_query(search: str) -> str:
    """The query string of a link to the view ``search`` shows, without the tab settings left
    at their defaults (``?model=digits-cnn&tab=Spectra&spectra.layer=0`` ->
    ``model=digits-cnn&tab=Spectra``): the link a class opens, and the page the server keeps ready."""
    views = {url_key(title, name): settings_class(view_class) for title, view_class in TABS
             for name in getattr(settings_class(view_class), "URL_SETTINGS", ())}
    read = parse_query(search)  # the values as the page reads them (Panel's Location)
    kept = []
    for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        if key in views:
            setting = views[key].param[key.split(".", 1)[1]]
            try:
                if setting.deserialize(read[key]) == setting.default:
                    continue
            except Exception:
                pass  # an unreadable value stays: the page shows its default as for any link
        kept.append((key, value))
    return urlencode(kept)


def _state_from(query: dict, refused: list) -> AppState:
    """The session's state with the link's model and tab applied before anything is built; a model
    or tab the link names that does not exist is not used, and its key added to ``refused``."""
    state = AppState()
    if "model" in query:
        if query["model"] in state.param.model_name.objects:
            state.model_name = query["model"]
        else:
            refused.append("model")
    if "tab" in query:
        if query["tab"] in [title for title, _ in TABS]:
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


def create_app(state: AppState | None = None) -> pn.template.FastListTemplate:
    """Build the whole app for one session.

    What a link asks for (model, tab, the open tab's settings) is applied *before* the
    views are built, and a tab's Viewer is made when the tab is first opened: a session
    pays for the page it shows, once.
    """
    offline.serve_panel_files_locally()
    location = pn.state.location
    query = dict(location.query_params) if location is not None else {}
    refused: list[str] = []
    state = state or _state_from(query, refused)
    notice = pn.pane.Alert(alert_type="warning", visible=False, css_classes=["link-notice"])

    def refuse(keys) -> None:
        refused.extend(keys)
        notice.param.update(object=link_notice(refused), visible=True)
    picker = ModelPicker(state=state)
    titles = [title for title, _ in TABS]
    state.param.tab.objects = titles  # the state's tab is one of this app's tabs
    views: dict[str, pn.viewable.Viewer] = {}
    pages = [pn.Column(sizing_mode="stretch_width") for _ in TABS]
    tabs = pn.Tabs(*zip(titles, pages), dynamic=True, sizing_mode="stretch_width")

    def open_tab(index: int):
        title, view_class = TABS[index]
        if title in views:
            return
        try:
            dropped = []
            view = view_class(state=state, **_settings_from(query, title, view_class, dropped))
            if dropped:
                refuse(dropped)
        except Exception as exc:  # the tab says so; opening it again tries again
            pages[index].objects = [error_alert(exc, f"The {title} tab")]
            return
        views[title] = view
        owner = getattr(view, "analysis", view)
        settings = getattr(owner, "URL_SETTINGS", ())
        if location is not None and settings:
            keys = {name: url_key(title, name) for name in settings}
            # a value the address bar sends later that the view refuses: the notice, and the view unchanged
            location.sync(owner, keys, on_error=lambda mapped: refuse([keys[name] for name in mapped]))
        pages[index].objects = [view]

    def tab_to_state(event):
        index, title = event.new, titles[event.new]
        state.tab = title
        doc = pn.state.curdoc
        if title in views or doc is None or doc.session_context is None:
            open_tab(index)
            return
        # served: the tab shows that it is being built at once, and is built on the next tick
        pages[index].objects = [pn.Row(pn.indicators.LoadingSpinner(value=True, size=28),
                                       pn.pane.Markdown(f"Building the {title} tab…"))]
        doc.add_next_tick_callback(lambda: open_tab(index))

    def state_to_tab(event):
        if event.new in titles:
            tabs.active = titles.index(event.new)

    if state.tab in titles:
        tabs.active = titles.index(state.tab)
    open_tab(tabs.active)
    tabs.param.watch(tab_to_state, "active")
    state.param.watch(state_to_tab, "tab")
    if location is not None:
        location.sync(state, {"model_name": "model", "tab": "tab"},
                      on_error=lambda mapped: refuse([{"model_name": "model"}.get(name, name) for name in mapped]))
    if refused:
        refuse([])

    template = pn.template.FastListTemplate(
        title=TITLE,
        sidebar=[ShareBox(link_query=link_query), picker],
        main=[pn.Column(notice, tabs, sizing_mode="stretch_width")],
        sidebar_width=360,
        accent="#3b6ea5",
        design=offline.Fast,
        # Panel's busy spinner follows one flag for the whole process: every click in any session
        # would send a patch to every other session's page (60 messages per click in a class of 30)
        busy_indicator=None,
    )
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        # a closing browser tab stops the session's computations in the worker processes
        pn.state.on_session_destroyed(lambda context: jobs.cancel_owner(state))
    template.state = state  # for tests and notebooks
    template.views = views  # the Viewers built so far, by tab title
    template.tabs = tabs  # the tabs (under the link's notice), for tests
    _freeze_once()
    return template


def _freeze_once() -> None:
    """After the process's first session: move what lives now (modules, caches) out of the
    garbage collector's generations, so that later sessions' collections skip it (measured:
    0.11 s of a session's 1.3 s went to collections before)."""
    if not _process["gc_frozen"]:
        _process["gc_frozen"] = True
        gc.freeze()
