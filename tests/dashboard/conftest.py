import asyncio

import panel as pn
import pytest

from dashboard.state import AppState


@pytest.fixture
def state():
    pn.extension()
    return AppState()


@pytest.fixture
def event_loop_of_its_own():
    """bokeh.client needs a current event loop; an earlier test's asyncio.run() leaves none."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()
