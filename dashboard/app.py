"""The app: a FastListTemplate with the model picker in the sidebar and one tab per view.

``create_app()`` runs once per browser session, so every session gets its own
state and widgets. The state syncs to the URL (``?model=digits-cnn&tab=Overview``)
so a link opens the same view; a view lists the settings it shares in its
``URL_SETTINGS`` (e.g. ``?tab=Adversarial&adversarial.norm=linf``).
"""

from __future__ import annotations

import panel as pn

from . import jobs
from .state import AppState
from .views.adversarial import AdversarialView
from .views.inversion import InversionView
from .views.model_picker import ModelPicker
from .views.overview import OverviewView
from .views.regions import RegionsView
from .views.spectra import SpectraView
from .views.symmetry import SymmetryView

TITLE = "Network Explorer"

# (tab title, Viewer class taking state=AppState). Each topic adds its own line.
TABS = [
    ("Overview", OverviewView),
    ("Linear regions", RegionsView),
    ("Spectra", SpectraView),
    ("Adversarial", AdversarialView),
    ("Inversion", InversionView),
    ("Symmetry", SymmetryView),
]


def url_key(tab_title: str, setting: str) -> str:
    """The query-string key of a tab's setting, e.g. ``adversarial.norm``."""
    return f"{tab_title.split()[-1].lower()}.{setting}"


def create_views(state: AppState) -> list[tuple[str, pn.viewable.Viewer]]:
    """One Viewer per tab, all sharing ``state``."""
    return [(title, view_class(state=state)) for title, view_class in TABS]


def create_app(state: AppState | None = None) -> pn.template.FastListTemplate:
    """Build the whole app for one session."""
    state = state or AppState()
    picker = ModelPicker(state=state)
    views = create_views(state)
    titles = [title for title, _ in views]
    # A tab's content is built the first time it is opened: a session that only looks
    # at the overview never pays for the spectra or the partition of another tab.
    pages = [pn.Column(sizing_mode="stretch_width") for _ in views]
    tabs = pn.Tabs(*zip(titles, pages), dynamic=True, sizing_mode="stretch_width")

    def open_tab(index: int):
        if not pages[index].objects:
            pages[index].objects = [views[index][1]]

    def tab_to_state(event):
        open_tab(event.new)
        state.tab = titles[event.new]

    def state_to_tab(event):
        if event.new in titles:
            tabs.active = titles.index(event.new)

    if state.tab in titles:
        tabs.active = titles.index(state.tab)
    open_tab(tabs.active)
    tabs.param.watch(tab_to_state, "active")
    state.param.watch(state_to_tab, "tab")
    if pn.state.location is not None:
        pn.state.location.sync(state, {"model_name": "model", "tab": "tab"})
        for title, view in views:
            settings = getattr(view, "URL_SETTINGS", ())
            if settings:
                pn.state.location.sync(view, {name: url_key(title, name) for name in settings})

    template = pn.template.FastListTemplate(
        title=TITLE,
        sidebar=[picker],
        main=[tabs],
        sidebar_width=360,
        accent="#3b6ea5",
    )
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        # a closing browser tab stops the session's computations in the worker processes
        pn.state.on_session_destroyed(lambda context: jobs.cancel_owner(state))
    template.state = state  # for tests and notebooks
    template.views = dict(views)
    return template
