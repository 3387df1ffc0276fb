"""Shared fixtures: clean Panel state between tests; one served app per test process (``served_url``);
and the order in which ``pytest -n 2 --dist loadfile`` hands the test files to its workers."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _panel_state_cleanup():
    yield
    import sys

    if "panel" in sys.modules:  # only tests that used Panel have anything to reset
        sys.modules["panel"].state.reset()


@pytest.fixture(scope="session")
def served_url():
    """The URL of one `panel serve app.py` (run.sh's flags) that every test of this test process
    asking for it shares; started on first use, stopped when the session ends (tests/served.py says
    when a test should start a server of its own instead)."""
    from tests.served import served_app

    with served_app(timeout=300) as url:  # a first start on a 2-core machine other suites share
        yield url


# -- scheduling for pytest-xdist's --dist loadfile ------------------------------------------------
#
# xdist's loadfile sends whole files to the workers, the files with the most tests first: the few long
# files (browser tests, notebooks) came last and left one worker running them alone. Here the files go
# out longest first, timed by the last run (kept in .pytest_cache) or else guessed.

DURATIONS_KEY = "network-explorer/file-seconds"


def _guessed_seconds(path: str, tests: int) -> float:
    """A file's seconds when no earlier run timed it: tests on a served app and notebooks are slow."""
    if path.endswith(".ipynb"):
        return 30.0
    try:
        text = (ROOT / path).read_text(errors="replace")
    except OSError:
        text = ""
    served = "served_url" in text or "served_app(" in text or "/ui/" in path
    return (25.0 if served else 2.0) * tests


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    seconds = config.cache.get(DURATIONS_KEY, {}) if getattr(config, "cache", None) else {}

    class LongestFirst(LoadFileScheduling):
        """loadfile, with the longest files first."""

        sorted_queue = False

        def _assign_work_unit(self, node) -> None:
            if not self.sorted_queue:  # the first call: schedule() has just filled the whole queue
                self.sorted_queue = True

                def cost(unit):
                    path, tests = unit
                    return seconds.get(path, _guessed_seconds(path, len(tests)))

                queue = sorted(self.workqueue.items(), key=cost, reverse=True)
                self.workqueue.clear()
                self.workqueue.update(queue)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)


class _FileTimer:
    """Sums each file's test seconds (setup, call and teardown) and keeps them for the next run's order."""

    def __init__(self, config):
        self.config, self.seconds = config, {}

    def pytest_runtest_logreport(self, report):
        path = report.nodeid.split("::", 1)[0]
        self.seconds[path] = self.seconds.get(path, 0.0) + report.duration

    def pytest_sessionfinish(self, session):
        if self.seconds:
            kept = self.config.cache.get(DURATIONS_KEY, {})
            kept.update({path: round(s, 1) for path, s in self.seconds.items()})
            self.config.cache.set(DURATIONS_KEY, kept)


def pytest_configure(config):
    # timed where the reports arrive: in xdist's controller, or in a run without workers
    if getattr(config, "cache", None) is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_FileTimer(config), "network-explorer-file-timer")

