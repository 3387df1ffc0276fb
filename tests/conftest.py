"""Shared fixtures: clean Panel state between tests."""

import pytest


@pytest.fixture(autouse=True)
def _panel_state_cleanup():
    yield
    import sys

    if "panel" in sys.modules:  # only tests that used Panel have anything to reset
        sys.modules["panel"].state.reset()
