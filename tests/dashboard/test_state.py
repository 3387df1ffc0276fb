"""Links: one table of tabs writes and reads every setting's key; older links keep working."""

from __future__ import annotations

from dashboard.app import TABS, link_query
from dashboard.state import TAB_BY_TITLE, settings_class, settings_from, url_key
from dashboard.state import TABS as TAB_TABLE

INVERSE = dict(TABS)["Inverse problems"]


def test_the_app_shows_the_tables_tabs_in_order_with_distinct_prefixes_and_keys():
    assert [title for title, _ in TABS] == [tab.title for tab in TAB_TABLE]
    prefixes = [p for tab in TAB_TABLE for p in (tab.prefix, *tab.old_prefixes)]
    assert len(prefixes) == len(set(prefixes))
    keys = [url_key(title, name) for title, view in TABS for name in settings_class(view).URL_SETTINGS]
    assert len(keys) == len(set(keys)) and all(key.count(".") == 1 for key in keys)


def test_a_link_made_before_the_prefix_table_opens_the_same_inverse_problems_settings():
    assert url_key("Inverse problems", "restarts") == "inverse.restarts"
    default = settings_class(INVERSE).param["restarts"].default
    wanted = default + 1
    assert settings_from({"problems.restarts": wanted}, "Inverse problems", INVERSE) == {"restarts": wanted}
    assert settings_from({"inverse.restarts": wanted}, "Inverse problems", INVERSE) == {"restarts": wanted}
    # today's key wins over an older one in the same link
    both = {"inverse.restarts": wanted, "problems.restarts": wanted + 1}  # as Panel parses a query
    assert settings_from(both, "Inverse problems", INVERSE) == {"restarts": wanted}
    refused = []
    assert settings_from({"problems.restarts": "many"}, "Inverse problems", INVERSE, refused) == {}
    assert refused == ["problems.restarts"]


def test_the_shared_link_writes_an_older_key_as_todays_and_drops_defaults():
    default = settings_class(INVERSE).param["restarts"].default
    assert link_query(f"?tab=Inverse+problems&problems.restarts={default + 1}") == \
        f"tab=Inverse+problems&inverse.restarts={default + 1}"
    assert link_query(f"?tab=Inverse+problems&problems.restarts={default}") == "tab=Inverse+problems"
    assert link_query(f"?inverse.restarts={default + 1}&problems.restarts={default + 2}") == \
        f"inverse.restarts={default + 1}"
    assert TAB_BY_TITLE["Inverse problems"].old_prefixes == ("problems",)


def test_an_address_bar_echo_of_a_negative_integer_is_not_a_refusal():
    """Panel writes regions.layer=-1 and reads it back as -1.0: no notice for it (every Linear
    regions link showed one), while a value over its bound is still named."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.location import Location
    from panel.io.state import set_curdoc
    from panel.util import edit_readonly

    from dashboard.state import AppState, sync_to_link
    from dashboard.tabs.regions.view import RegionsView

    doc = Document()
    with set_curdoc(doc):
        location = Location()
        with edit_readonly(location):
            location.param.update(protocol="http:", hostname="x", port="5006", pathname="/app",
                                  search="?model=moons-mlp&tab=Linear%20regions")
        pn.state._locations[doc] = location
        analysis = RegionsView(state=AppState()).analysis
        keys = {name: url_key("Linear regions", name) for name in analysis.URL_SETTINGS}
        refused = []
        sync_to_link(location, analysis, keys, refused.extend)
        written = location.search
        assert "regions.layer=-1" in written and "regions.unit=-1" in written
        other = 128 if analysis.resolution != 128 else 64
        with edit_readonly(location):
            location.search = written.replace(f"regions.resolution={analysis.resolution}",
                                              f"regions.resolution={other}")
        assert refused == [] and analysis.layer == -1 and analysis.unit == -1
        with edit_readonly(location):
            location.search = location.search.replace("regions.layer=-1", "regions.layer=5000")  # over the bound
        assert refused == ["regions.layer"] and analysis.layer == -1


def test_a_text_setting_that_reads_as_a_number_is_taken_as_its_text():
    """Training's one hidden width, ``training.hidden=8``: Panel's query parser reads it as the number 8,
    which the text setting refused (the link showed the default net and a notice)."""
    from bokeh.document import Document
    from panel.io.location import Location
    from panel.io.state import set_curdoc
    from panel.util import edit_readonly, parse_query

    from dashboard.state import AppState, sync_to_link
    from dashboard.tabs.training.view import TrainingView

    refused = []
    settings = settings_from(parse_query("?tab=Training&training.hidden=8&training.seed=3"), "Training",
                             TrainingView, refused)
    assert refused == [] and settings["hidden"] == "8" and settings["seed"] == 3
    analysis = TrainingView(state=AppState(), **settings).analysis
    doc = Document()
    with set_curdoc(doc):
        location = Location()
        with edit_readonly(location):
            location.param.update(protocol="http:", hostname="x", port="5006", pathname="/app", search="?tab=Training")
        keys = {name: url_key("Training", name) for name in analysis.URL_SETTINGS}
        sync_to_link(location, analysis, keys, refused.extend)
        with edit_readonly(location):  # typed in the address bar
            location.search = location.search + "&training.hidden=12"
        assert refused == [] and analysis.hidden == "12"
