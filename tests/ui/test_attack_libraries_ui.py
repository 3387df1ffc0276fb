"""Two library attacks run from the Adversarial tab in the real app (Chromium, 1366x768): the norms the
page shows are the library call's own numbers (same sample, settings and seed)."""

import re

import pytest

from explorer import attacks, datasets, zoo
from explorer.attacks import libraries

pytestmark = [pytest.mark.ui, pytest.mark.skipif(
    not (libraries.is_available("fmn") and libraries.is_available("apgd")),
    reason="foolbox and ART are not installed (pip install -e '.[attacks]')")]

LONG = 180_000  # ms: a worker process on a busy 2-core machine
SAMPLE = 5


def _summary(page, starts: str) -> str:
    """The attack's line once it is the one for ``starts`` (its content lives in a shadow root that CSS
    locators pierce)."""
    line = page.locator(".adversarial-summary p").filter(has_text=re.compile("^" + re.escape(starts)))
    line.first.wait_for(timeout=LONG)
    return line.first.inner_text()


def _shown(text: str, subscript: str) -> str:
    return re.search(rf"\|\|r\|\|{subscript} = ([0-9]+\.[0-9]+)", text).group(1)


def test_fmn_and_apgd_from_the_tab_show_the_librarys_norms(page, served_url, artifacts):
    page.set_viewport_size({"width": 1366, "height": 768})
    model, x = zoo.load("digits-mlp"), datasets.load("digits").X_test[SAMPLE:SAMPLE + 1]

    # FMN (Foolbox) from a link's settings
    page.goto(served_url + f"?model=digits-mlp&tab=Adversarial&adversarial.sample={SAMPLE}"
              "&adversarial.method=fmn&adversarial.norm=linf&adversarial.epsilon=0.3&adversarial.seed=2")
    text = _summary(page, "FMN (linf)")
    fmn = attacks.run_attack(model, x, method="fmn", norm="linf", clip=(0.0, 1.0), seed=2)
    assert _shown(text, "∞") == f"{fmn.linf[0]:.4f}" and _shown(text, "₂") == f"{fmn.l2[0]:.4f}"
    assert "flips the label" in text and fmn.success[0]

    # APGD (ART) chosen in the tab's method list, at the link's budget
    method = page.locator(".bk-input-group", has_text="Method").locator("select")
    method.select_option(label="APGD (ART)")
    text = _summary(page, "APGD (linf)")
    apgd = attacks.run_attack(model, x, method="apgd", norm="linf", epsilon=0.3, clip=(0.0, 1.0), seed=2)
    assert _shown(text, "∞") == f"{apgd.linf[0]:.4f}" and _shown(text, "₂") == f"{apgd.l2[0]:.4f}"
    assert ("flips the label within ε = 0.3" in text) == bool(apgd.success[0])
    page.screenshot(path=str(artifacts / "tab-adversarial-libraries.png"), full_page=True)
