"""`panel serve app.py` answers on a loopback port with the app's page."""

import requests

from dashboard.app import TITLE


def test_served_app_answers_with_its_title(served_url):
    url = served_url
    page = requests.get(url, timeout=30)
    assert page.status_code == 200
    assert f"<title>{TITLE}</title>" in page.text
    shared = requests.get(url + "?model=digits-cnn&tab=Overview", timeout=30)
    assert shared.status_code == 200 and TITLE in shared.text
    missing = requests.get(url.replace("/app", "/no-such-page"), timeout=30)
    assert missing.status_code == 404


def test_the_served_websocket_carries_one_piece_of_an_upload():
    """Bokeh refuses websocket messages over its limit; an upload travels in pieces of CHUNK_BYTES."""
    from dashboard.serving.uploads import CHUNK_BYTES, Uploader
    from tests.served import SERVE_FLAGS

    limit = int(SERVE_FLAGS[SERVE_FLAGS.index("--websocket-max-message-size") + 1])
    assert CHUNK_BYTES + 2**20 <= limit <= 4 * CHUNK_BYTES
    assert Uploader().chunk_size == CHUNK_BYTES
