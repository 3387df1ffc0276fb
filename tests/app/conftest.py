import panel as pn
import pytest

from dashboard.state import AppState


@pytest.fixture
def state():
    pn.extension()
    return AppState()
