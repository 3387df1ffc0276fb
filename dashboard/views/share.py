"""The sidebar's "Share this view with a class": the link of what the teacher sees, kept ready.

A click shows the link of the current view (model, tab and the tab's settings are in its query
string), kept up to date as the view changes, with a button that copies it; and asks every server
process to keep that page built ahead for the students who open it (``keep_ready``: the app passes
:func:`dashboard.serving.session_pool.share_page`), so that a class opening it at once gets it in about a
second instead of waiting for 30 page builds.
"""

from __future__ import annotations

import panel as pn
import param

SHARE_LABEL = "Share this view with a class…"
# Copies the link: the Clipboard API where the page is a secure context (https, localhost), else
# the older copy command on a hidden text area (a class server reached over plain http on a LAN)
COPY_JS = """
const text = link.value;
function fallback() {
  const area = document.createElement("textarea");
  area.value = text; area.style.position = "fixed"; area.style.opacity = "0";
  document.body.appendChild(area); area.select();
  try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
}
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).catch(fallback);
} else {
  fallback();
}
button.label = "Copied";
setTimeout(() => { button.label = "Copy link"; }, 1500);
"""


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
    keep_ready = param.Callable(default=lambda query, protocol, host: False,
                                doc="Asks the server to keep the page ``query`` built ahead; True if it will")
    ready_count = param.Integer(default=0, doc="How many of a shared page each server process keeps built ahead")

    def __init__(self, **params):
        super().__init__(**params)
        self._button = pn.widgets.Button(label=SHARE_LABEL, css_classes=["share-view"])
        self._shown = pn.Column(sizing_mode="stretch_width")
        self._link = pn.widgets.TextInput(label="Link for the class", css_classes=["share-link"],
                                          sizing_mode="stretch_width")
        self._copy = pn.widgets.Button(label="Copy link", css_classes=["share-copy"], width=110)
        self._copy_callback = self._copy.js_on_click(args={"link": self._link, "button": self._copy}, code=COPY_JS)
        self._button.on_click(self._share)
        self._following = False

    def _follow(self, event) -> None:
        """The view changed (model, tab, a setting) while its link is shown: show the new link."""
        self._share()

    def _share(self, event=None) -> None:
        location = pn.state.location
        if location is None:
            self._shown.objects = [pn.pane.Markdown("No link: this page is not served.")]
            return
        if not self._following:
            location.param.watch(self._follow, "search")
            self._following = True
        query = self.link_query(location.search)
        self._link.value = view_link(location, query)
        kept = self.keep_ready(query, protocol=location.protocol.rstrip(":") or "http",
                               host=location.hostname or "localhost")
        note = (f"Students who open this link get it at once: each server process keeps "
                f"{self.ready_count} of it built ahead." if kept else
                "This server builds each page when it is opened (`bash run.sh serve` keeps shared "
                "pages built ahead).")
        self._shown.objects = [self._link, self._copy, pn.pane.Markdown(note, css_classes=["share-note"])]

    def __panel__(self):
        return pn.Column(self._button, self._shown, sizing_mode="stretch_width")
