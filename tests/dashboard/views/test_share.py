"""The sidebar's "Share this view with a class": the view's link, and its page kept ready."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.location import Location
from panel.io.state import set_curdoc
from panel.util import edit_readonly

from dashboard.app import link_query
from dashboard.serving import session_pool
from dashboard.tabs.spectra.analysis import SpectraAnalysis
from dashboard.views.share import ShareBox, view_link


@pytest.fixture
def location(monkeypatch):
    """The session's Location as a browser at http://class.example.org:5006 would sync it."""
    doc = Document()
    with set_curdoc(doc):
        loc = Location()
        with edit_readonly(loc):
            loc.param.update(protocol="http:", hostname="class.example.org", port="5006", pathname="/app/ws",
                             search=f"?model=digits-cnn&tab=Spectra&spectra.layer={SpectraAnalysis.param['layer'].default}")
        monkeypatch.setitem(pn.state._locations, doc, loc)
        yield loc


def test_the_link_is_the_page_on_the_server_the_browser_reached_without_the_websocket_path(location):
    assert view_link(location, "model=digits-cnn") == "http://class.example.org:5006/app?model=digits-cnn"
    assert view_link(location, "") == "http://class.example.org:5006/app"


def test_a_link_leaves_out_the_tab_settings_at_their_defaults():
    layer_default = SpectraAnalysis.param["layer"].default
    assert link_query(f"?model=digits-cnn&tab=Spectra&spectra.layer={layer_default}&spectra.rank=3") == \
        "model=digits-cnn&tab=Spectra&spectra.rank=3"
    assert link_query("?model=digits-cnn&spectra.layer=seven&other=1") == "model=digits-cnn&spectra.layer=seven&other=1"
    assert link_query("") == ""


@pytest.mark.parametrize("kept", [True, False])
def test_sharing_shows_the_link_and_asks_the_server_to_keep_the_page_ready(location, kept):
    asked = []
    box = ShareBox(link_query=link_query, ready_count=session_pool.POOL_SIZE,
                   keep_ready=lambda query, **where: asked.append((query, where)) or kept)
    box._button.clicks += 1
    assert asked == [("model=digits-cnn&tab=Spectra", {"protocol": "http", "host": "class.example.org"})]
    link, copy, note = box._shown.objects
    assert link.value == "http://class.example.org:5006/app?model=digits-cnn&tab=Spectra"
    if kept:
        assert "built ahead" in note.object and str(session_pool.POOL_SIZE) in note.object
    else:
        assert "builds each page" in note.object
    assert copy.label == "Copy link" and "link.value" in box._copy_callback.code["event:button_click"]


def test_the_shown_link_follows_a_model_switch(location):
    asked = []
    box = ShareBox(link_query=link_query, keep_ready=lambda query, **where: asked.append(query) or True)
    box._button.clicks += 1
    with edit_readonly(location):
        location.search = "?model=digits-mlp&tab=Spectra"  # what the state's sync writes after a switch
    assert box._link.value == "http://class.example.org:5006/app?model=digits-mlp&tab=Spectra"
    assert asked == ["model=digits-cnn&tab=Spectra", "model=digits-mlp&tab=Spectra"]
