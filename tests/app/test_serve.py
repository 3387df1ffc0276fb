"""`panel serve app.py` answers on a loopback port with the app's page."""

import requests

from dashboard.app import TITLE
from tests.served import served_app


def test_served_app_answers_with_its_title():
    with served_app() as url:
        page = requests.get(url, timeout=30)
        assert page.status_code == 200
        assert f"<title>{TITLE}</title>" in page.text
        shared = requests.get(url + "?model=digits-cnn&tab=Overview", timeout=30)
        assert shared.status_code == 200 and TITLE in shared.text
        missing = requests.get(url.replace("/app", "/no-such-page"), timeout=30)
        assert missing.status_code == 404
