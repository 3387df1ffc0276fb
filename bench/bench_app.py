"""The app's cold start and the zoo's load time, each against a baseline run here and now.

- Cold start: process start to the first served page of `panel serve app.py`,
  against the same for a one-line Panel app (the floor any Panel app pays).
- Zoo load: `zoo.load(name)` (sha256 check, spec validation, canonical-form check)
  against a bare `torch.load(weights_only=True)` of the same file.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import torch

from bench.timing import best_of
from explorer import zoo
from tests.served import ROOT, free_port


def cold_start(app_path: Path, cwd: Path) -> float:
    """Seconds from launching `panel serve` to a 200 answer for the app's page."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(app_path), "--port", str(port),
                             "--address", "127.0.0.1"], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/{app_path.stem}"
    try:
        while True:
            try:
                if requests.get(url, timeout=60).status_code == 200:
                    return time.perf_counter() - start
            except requests.RequestException:
                time.sleep(0.05)
            if time.perf_counter() - start > 120:
                raise TimeoutError(url)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text("import panel as pn\npn.panel('hello').servable()\n")
        baseline = min(cold_start(hello, Path(tmp)) for _ in range(2))
        ours = min(cold_start(ROOT / "app.py", ROOT) for _ in range(2))
    print(f"cold start: app {ours:.2f} s, one-line Panel app {baseline:.2f} s")

    ratios = []
    for name in zoo.names():
        path = zoo.DATA_DIR / zoo.card(name)["file"]
        ours_load = best_of(lambda: zoo.load(name), 5)
        bare = best_of(lambda: torch.load(path, weights_only=True), 5)
        ratios.append(ours_load / bare)
        print(f"zoo load {name:20s}: {1e3 * ours_load:6.1f} ms vs bare torch.load {1e3 * bare:5.1f} ms "
              f"(x{ours_load / bare:.1f})")
    print(f"zoo load: worst x{max(ratios):.1f} of a bare torch.load")
    print(f"cold start ratio (app / one-line Panel app): {ours / baseline:.2f}")


if __name__ == "__main__":
    main()
