"""The app: a FastListTemplate with the model picker in the sidebar and one tab per view.

``create_app()`` runs once per browser session, so every session gets its own
state and widgets. The state syncs to the URL (``?model=digits-cnn&tab=Overview``)
so a link opens the same view; a tab's analysis lists the settings it shares in its
``URL_SETTINGS`` (e.g. ``?tab=Adversarial&adversarial.norm=linf``), and
:mod:`dashboard.state` reads and writes them.
"""

from __future__ import annotations

import asyncio
import functools
import gc

import panel as pn
from panel.io.state import set_curdoc

from . import state as state_links
from .serving import jobs, offline, session_pool
from .state import TAB_TITLES, AppState, link_notice, settings_from, state_from, url_key
from .tabs.adversarial.view import AdversarialView
from .tabs.inverse.view import InverseView
from .tabs.inversion.view import InversionView
from .tabs.overview.view import OverviewView
from .tabs.regions.view import RegionsView
from .tabs.spectra.view import SpectraView
from .tabs.symmetry.view import SymmetryView
from .tabs.training.view import TrainingView
from .views.common import error_alert
from .views.model_picker import ModelPicker
from .views.share import ShareBox

TITLE = "Network Explorer"
_process = {"gc_frozen": False}

# (tab title, Viewer class taking state=AppState), in the order of state.TAB_TITLES
TABS = list(zip(TAB_TITLES, (OverviewView, RegionsView, SpectraView, AdversarialView, InversionView, InverseView,
                             SymmetryView, TrainingView), strict=True))


def link_query(search: str) -> str:
    """The link a teacher shares of the view ``search`` shows (:func:`dashboard.state.link_query`)."""
    return state_links.link_query(search, dict(TABS))


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
    state = state or state_from(query, refused)
    main = pn.Column(sizing_mode="stretch_width")
    notice = pn.pane.Alert(alert_type="warning", css_classes=["link-notice"])

    def refuse(keys) -> None:
        """Say which settings of the link were refused: the notice goes above the tabs the first
        time (a page without one holds no hidden notice: fewer models for every student's browser)."""
        refused.extend(keys)
        notice.object = link_notice(refused)
        if notice not in main.objects:
            main.insert(0, notice)
    picker = ModelPicker(state=state)
    titles = [title for title, _ in TABS]
    state.param.tab.objects = titles  # the state's tab is one of this app's tabs
    views: dict[str, pn.viewable.Viewer] = {}
    pages = [pn.Column(sizing_mode="stretch_width") for _ in TABS]
    tabs = pn.Tabs(*zip(titles, pages), dynamic=True, sizing_mode="stretch_width")
    main.append(tabs)

    def make_view(index: int):
        """The tab's Viewer, built with the link's settings for it (None, and the error shown, if it fails)."""
        title, view_class = TABS[index]
        try:
            dropped = []
            view = view_class(state=state, **settings_from(query, title, view_class, dropped))
        except Exception as exc:  # the tab says so; opening it again tries again
            pages[index].objects = [error_alert(exc, f"The {title} tab")]
            return None
        if dropped:
            refuse(dropped)
        return view

    def show_view(index: int, view) -> None:
        title = TABS[index][0]
        views[title] = view
        owner = getattr(view, "analysis", view)
        settings = getattr(owner, "URL_SETTINGS", ())
        if location is not None and settings:
            keys = {name: url_key(title, name) for name in settings}
            # a value the address bar sends later that the view refuses: the notice, and the view unchanged
            state_links.sync_to_link(location, owner, keys, refuse)
        pages[index].objects = [view]

    def open_tab(index: int):
        if TABS[index][0] not in views and (view := make_view(index)) is not None:
            show_view(index, view)

    async def open_tab_off_the_loop(index: int, doc) -> None:
        """Served: the tab's Viewer is built in a thread (its drawing jobs wait there, so the other
        sessions of this process keep answering), then shown from the event loop."""
        title = TABS[index][0]
        if title in views or title in being_built:
            return
        being_built.add(title)

        def build():
            with set_curdoc(doc):
                return make_view(index)

        try:
            view = await asyncio.to_thread(build)
        finally:
            being_built.discard(title)
        if view is not None and title not in views:
            show_view(index, view)

    being_built: set[str] = set()

    def tab_to_state(event):
        index, title = event.new, titles[event.new]
        state.tab = title
        doc = pn.state.curdoc
        if title in views or doc is None or doc.session_context is None:
            open_tab(index)
            return
        if title in being_built:
            return
        # served: the tab shows that it is being built at once, and is built off the event loop
        pages[index].objects = [pn.Row(pn.indicators.LoadingSpinner(value=True, size=28),
                                       pn.pane.Markdown(f"Building the {title} tab…"))]
        doc.add_next_tick_callback(functools.partial(open_tab_off_the_loop, index, doc))

    def state_to_tab(event):
        if event.new in titles:
            tabs.active = titles.index(event.new)

    if state.tab in titles:
        tabs.active = titles.index(state.tab)
    open_tab(tabs.active)
    tabs.param.watch(tab_to_state, "active")
    state.param.watch(state_to_tab, "tab")
    if location is not None:
        state_links.sync_to_link(location, state, {"model_name": "model", "tab": "tab"}, refuse)
    if refused:
        refuse([])

    template = pn.template.FastListTemplate(
        title=TITLE,
        sidebar=[ShareBox(link_query=link_query, keep_ready=session_pool.share_page,
                          ready_count=session_pool.POOL_SIZE), picker],
        main=[main],
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
