"""Shared fixtures: clean Panel state between tests; one served app per test process (``served_url``);
and the order in which ``pytest -n 2 --dist loadfile`` hands the test files to its workers."""

from __future__ import annotations

import os
from pathlib import Path

# one BLAS/OpenMP thread per test process (and the servers, kernels and jobs it starts), as
# `bash run.sh test` sets it: set before anything imports torch
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _panel_state_cleanup():
    yield
    import sys

    if "panel" in sys.modules:  # only tests that used Panel have anything to reset
        sys.modules["panel"].state.reset()


@pytest.fixture(scope="session")
def served_url(tmp_path_factory):
    """The URL of one `panel serve app.py` (run.sh's flags, one process, a teacher's data folder) that
    every test of this test process asking for it shares; started on first use, stopped when the
    session ends (tests/served.py says when a test should start a server of its own instead)."""
    from tests.served import SHARED_NUM_PROCS, served_app, teachers_folder

    with served_app(num_procs=SHARED_NUM_PROCS, data_dir=teachers_folder(tmp_path_factory.mktemp("data"))) as url:
        yield url


# -- scheduling for pytest-xdist's --dist loadfile ------------------------------------------------
#
# xdist's loadfile sends whole files to the workers, the files with the most tests first: the few long
# files (browser tests, notebooks) came last and left one worker running them alone. Here the files go
# out longest first, timed by the last run (kept in .pytest_cache) or else guessed; and the files that
# use ``served_url`` go to one worker together, so that one server serves them all, unless together
# they would take more than that worker's share of the run (then each worker starts its own).

DURATIONS_KEY = "network-explorer/file-seconds"
SHARED_UNIT = "the files using served_url"


def _text(path: str) -> str:
    try:
        return (ROOT / path).read_text(errors="replace")
    except OSError:
        return ""


def _guessed_seconds(path: str, tests: int) -> float:
    """A file's seconds when no earlier run timed it: tests on a served app and notebooks are slow."""
    if path.endswith(".ipynb"):
        return 30.0
    text = _text(path)
    served = "served_url" in text or "served_app(" in text or "/ui/" in path
    return (25.0 if served else 2.0) * tests


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    seconds = config.cache.get(DURATIONS_KEY, {}) if getattr(config, "cache", None) else {}

    class LongestFirst(LoadFileScheduling):
        """loadfile, the longest units first, the files using served_url one unit if they fit."""

        shared_files: set | None = None  # decided when the first unit is handed out

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_UNIT if self.shared_files and path in self.shared_files else path

        def _assign_work_unit(self, node) -> None:
            if self.shared_files is None:  # schedule() has just filled the whole queue, by file
                self._plan()
            super()._assign_work_unit(node)

        def _plan(self) -> None:
            units = dict(self.workqueue)
            cost = {path: seconds.get(path, _guessed_seconds(path, len(tests))) for path, tests in units.items()}
            shared = [path for path in units if path.endswith(".py") and "served_url" in _text(path)]
            together = sum(cost[path] for path in shared)
            fits = len(shared) > 1 and together <= sum(cost.values()) / max(len(self.nodes), 1)
            self.shared_files = set(shared) if fits else set()
            if fits:
                units[SHARED_UNIT] = {nodeid: False for path in shared for nodeid in units.pop(path)}
                cost[SHARED_UNIT] = together
            self.workqueue.clear()
            self.workqueue.update(sorted(units.items(), key=lambda unit: cost[unit[0]], reverse=True))

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
    if config.getoption("nbmake", False):
        # nbmake: once a notebook's last cell has run, its kernel is stopped at once; a graceful
        # stop waited 3-6 s per notebook for the kernel to exit (measured), the worker idle meanwhile
        from nbclient import NotebookClient

        NotebookClient.class_traits()["shutdown_kernel"].default_value = "immediate"

