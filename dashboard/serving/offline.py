"""The page works without internet: every file it loads comes from this server.

Panel 1.9 reaches out in two places that a classroom without internet (or behind a
firewall that drops, rather than refuses, outside connections) would feel: the Fast
design's web font (Open Sans from fonts.googleapis.com, a render-blocking stylesheet),
and, with ``--reuse-sessions``, the components' stylesheets (cdn.holoviz.org). The
browser test ``test_shared_link_opens_the_same_model_and_nothing_loads_from_outside``
(tests/ui/test_app_ui.py) holds both to zero.
"""

from __future__ import annotations

import panel as pn
from panel.io.resources import get_dist_path
from panel.theme import Fast as PanelFast
from panel.theme.base import Inherit

# The selected option of a toggle group (and a pressed toggle) filled with the accent colour and
# white text: a contrast ratio of 5.4 against the unselected options' white (Panel's Fast design
# tells them apart by 5 grey levels).
SELECTED_CSS = """
.bk-btn.bk-active, .bk-btn-group .bk-btn.bk-active {
  background-color: #3b6ea5 !important; color: #ffffff !important; border-color: #2c5580 !important;
  font-weight: 600;
}
"""


class Fast(PanelFast):  # named Fast too: Panel finds a design's bundled files by its class name
    """Panel's Fast design without its web font (text falls back to the machine's sans-serif), and
    with the selected option of every toggle group visible at a glance (:data:`SELECTED_CSS`)."""

    _resources = {kind: files for kind, files in PanelFast._resources.items() if kind != "font"}
    modifiers = {
        **PanelFast.modifiers,
        pn.widgets.RadioButtonGroup: {"stylesheets": [Inherit, SELECTED_CSS]},
        pn.widgets.CheckButtonGroup: {"stylesheets": [Inherit, SELECTED_CSS]},
        pn.widgets.Toggle: {"stylesheets": [Inherit, SELECTED_CSS]},
    }


def serve_panel_files_locally() -> None:
    """Point this session's stylesheets at the server's own copy of Panel's files.

    Panel learns where its files are served while it renders a session's page. With
    ``--reuse-sessions`` every later session's document is built when its websocket
    connects, without that render, and its components' stylesheets fall back to
    cdn.holoviz.org. Call before the session's components are built.
    """
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        document.template_variables.setdefault("dist_url", get_dist_path())
