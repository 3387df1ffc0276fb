"""The sidebar's "Share this view with a class": the link of what the teacher sees, kept ready.

A click shows the link of the current view (model, tab and the tab's settings are in its query
string) and asks every server process to keep that page built ahead for the students who open
it (:func:`dashboard.session_pool.share_page`), so that a class opening it at once gets it in
about a second instead of waiting for 30 page builds.
"""

from __future__ import annotations

import panel as pn
import param

from .. import session_pool

SHARE_LABEL = "Share this view with a class…"


def view_link(location, query: str) -> str:
    """The link to the page ``query`` on the server the session's browser reached (the websocket's
    own ``/ws`` path taken off)."""
    path = location.pathname.removesuffix("/ws") or "/app"
    host = location.hostname + (f":{location.port}" if location.port else "")
    return f"{location.protocol}//{host}{path}" + (f"?{query}" if query else "")


class ShareBox(pn.viewable.Viewer):
    """A button; once pressed, the view's link and whether students will find it ready."""

    link_query = param.Callable(default=lambda search: search.lstrip("?"),
                                doc="The link's query string from the address bar's (the app drops "
                                    "the settings left at their defaults)")

    def __init__(self, **params):
        super().__init__(**params)
        self._button = pn.widgets.Button(label=SHARE_LABEL, css_classes=["share-view"])
        self._shown = pn.Column(sizing_mode="stretch_width")
        self._button.on_click(self._share)

    def _share(self, event=None) -> None:
        location = pn.state.location
        if location is None:
            self._shown.objects = [pn.pane.Markdown("No link: this page is not served.")]
            return
        query = self.link_query(location.search)
        link = view_link(location, query)
        kept = session_pool.share_page(query, protocol=location.protocol.rstrip(":") or "http",
                                       host=location.hostname or "localhost")
        note = (f"Students who open this link get it at once: each server process keeps "
                f"{session_pool.POOL_SIZE} of it built ahead." if kept else
                "This server builds each page when it is opened (`bash run.sh serve` keeps shared "
                "pages built ahead).")
        self._shown.objects = [pn.widgets.TextInput(value=link, label="Link for the class", css_classes=["share-link"]),
                               pn.pane.Markdown(note, css_classes=["share-note"])]

    def __panel__(self):
        return pn.Column(self._button, self._shown, sizing_mode="stretch_width")
