"""How long `bash run.sh serve` takes to answer its first page, against a minimal Panel app (issue 30).

Each repeat starts, on a free loopback port, ``PORT=... bash run.sh serve`` (the README's command:
two server processes, the warm-up setup script, the session pool) and ``panel serve hello.py`` for a
one-line app, one after the other, and times each from launch to the first 200 answer of its page
(``/app``, ``/hello``); then stops the server and every process it started. The last line is the
ratio of the medians, ours / minimal (target: at most 3).

Knobs (environment): ``STARTUP_REPEATS=3``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.served import ROOT, free_port, stop

REPEATS = int(os.environ.get("STARTUP_REPEATS", "3"))
TIMEOUT = 300.0
MINIMAL_APP = "import panel as pn\npn.panel('hello').servable()\n"


def first_page(command: list[str], cwd: Path, url: str, env: dict | None = None) -> float:
    """Seconds from launching ``command`` to a 200 answer for ``url``; the server is stopped after."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited with {proc.returncode} before answering")
            try:
                if requests.get(url, timeout=TIMEOUT).status_code == 200:
                    return time.perf_counter() - start
            except requests.RequestException:
                time.sleep(0.05)
            if time.perf_counter() - start > TIMEOUT:
                raise TimeoutError(url)
    finally:
        stop(proc)  # the whole process group: server processes, forkserver, jobs


def ours() -> float:
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    return first_page(["bash", "run.sh", "serve", "--address", "127.0.0.1"], ROOT, f"http://127.0.0.1:{port}/app", env)


def minimal(folder: Path) -> float:
    port = free_port()
    return first_page([sys.executable, "-m", "panel", "serve", "hello.py", "--port", str(port), "--address",
                       "127.0.0.1"], folder, f"http://127.0.0.1:{port}/hello")


def main() -> None:
    times: dict[str, list[float]] = {"ours": [], "minimal": []}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "hello.py").write_text(MINIMAL_APP)
        for repeat in range(REPEATS):
            times["minimal"].append(minimal(Path(tmp)))
            times["ours"].append(ours())
            print(f"repeat {repeat + 1}: bash run.sh serve {times['ours'][-1]:.2f} s, minimal Panel app "
                  f"{times['minimal'][-1]:.2f} s", flush=True)
    a, b = statistics.median(times["ours"]), statistics.median(times["minimal"])
    print(f"first page, median of {REPEATS}: bash run.sh serve {a:.2f} s, minimal Panel app {b:.2f} s")
    print(f"startup ours/minimal: {a / b:.2f} (target 3)")


if __name__ == "__main__":
    main()
