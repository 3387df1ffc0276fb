"""What a client sends past the browser's widgets is checked by the server (issue 31).

A client that skips the browser can send any value for any widget. Each tab's view is built, and
every number widget is sent a huge and a negative value, every text widget a hostile string, the
way Panel receives a browser's change (``_process_events``). Afterwards every setting of the view
must still be one its parameter accepts (within bounds, among the choices, matching its pattern),
and every slider's shown value within its range.
"""

from __future__ import annotations

import panel as pn
import param
import pytest

from dashboard.app import TABS

HOSTILE = "<img src=x onerror=alert(1)>"
NUMBER_WIDGETS = (pn.widgets.IntSlider, pn.widgets.FloatSlider, pn.widgets.IntInput, pn.widgets.FloatInput)


def send(widget, value) -> None:
    """A client's change of ``widget`` to ``value``, as the server receives it (a refusal is logged
    by the server, not raised to anyone)."""
    try:
        widget._process_events({"value": value})
    except Exception:
        pass


def widgets_of(view) -> list:
    layout = view.__panel__()
    return [w for w in layout.select(pn.widgets.Widget) if not w.disabled]


def settings_of(view):
    """The object holding the tab's settings: its analysis (a tab package's view) or the view."""
    return getattr(view, "analysis", view)


def settings_are_valid(view) -> None:
    owner = settings_of(view)
    for name, parameter in owner.param.objects("existing").items():
        if isinstance(parameter, (param.Number, param.String, param.Selector)) and name != "name":
            parameter._validate(getattr(owner, name))  # raises if the view kept a value it must refuse


CASES = [case for case in TABS if case[0] != "Training"]  # Training: its own test below


@pytest.mark.parametrize("title, view_class", CASES, ids=[title for title, _ in CASES])
def test_values_past_the_widgets_are_refused_and_the_widgets_set_back(state, title, view_class):
    state.model_name = "digits-mlp" if title != "Inverse problems" else state.model_name
    view = view_class(state=state)
    for widget in widgets_of(view):
        if isinstance(widget, NUMBER_WIDGETS):
            for value in (10**30, -10**9):
                before = widget.value
                send(widget, value)
                if isinstance(widget, (pn.widgets.IntSlider, pn.widgets.FloatSlider)):
                    assert widget.start <= widget.value <= widget.end, (title, widget.name, widget.value)
                else:
                    assert widget.value != value or before == value, (title, widget.name)
        elif isinstance(widget, pn.widgets.TextInput):
            send(widget, HOSTILE)
        settings_are_valid(view)
    strings = [getattr(settings_of(view), name) for name, p in settings_of(view).param.objects("existing").items()
               if isinstance(p, param.String)]
    assert not any("<img" in str(value) for value in strings), title


def test_training_refuses_a_hostile_width_and_a_huge_one(state):
    from dashboard.tabs.training.view import TrainingView

    view = TrainingView(state=state)
    text = next(w for w in widgets_of(view) if isinstance(w, pn.widgets.TextInput) and w.name == "Hidden widths")
    for value in (HOSTILE, "1000000"):
        send(text, value)
        assert view.analysis.hidden == "16,16" or view.analysis.stepper is None  # refused as a value, or as a network
    assert "<img" not in view.analysis.hidden
    assert text.value == view.analysis.hidden  # the widget shows what the analysis holds


def test_a_link_refuses_what_its_settings_refuse_and_reads_negative_integers():
    from dashboard.state import settings_from
    from dashboard.tabs.regions.view import RegionsView

    refused = []
    query = {"regions.layer": -1.0, "regions.unit": 10**9, "regions.samples": HOSTILE, "regions.eps": 0.1}
    settings = settings_from(query, "Linear regions", RegionsView, refused)
    assert settings == {"layer": -1, "eps": 0.1} and isinstance(settings["layer"], int)
    assert refused == ["regions.unit", "regions.samples"]


def test_markdown_shows_markup_and_addresses_as_text():
    from dashboard.safe_text import message

    pane = pn.pane.Alert(f"**Loaded** {message('cnn.pt <img src=x onerror=alert(1)> [x](javascript:alert(1))')}")
    shown = pane._transform_object(pane.object)["object"]  # the HTML the page gets, escaped once for bokeh
    assert "&lt;strong&gt;Loaded&lt;/strong&gt;" in shown  # the app's own markup stays
    assert "&lt;img" not in shown and "&lt;a " not in shown  # no element from the user's text
    assert "cnn.pt" in shown and "&amp;lt;img src=x" in shown  # the user's text, as text
