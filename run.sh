#!/usr/bin/env bash
# Network Explorer's one entry point.
#
#   bash run.sh serve       set up (first time only) and serve the app on http://localhost:5006/app
#                           (--data DIR: offer the datasets in DIR to every session)
#   bash run.sh test        set up (first time only) and run the whole test suite
#   bash run.sh bench       set up (with the peer libraries) and run the benchmarks (python -m bench)
#   bash run.sh notebooks   set up with JupyterLab and open the notebooks
#   bash run.sh setup       only set up: .venv with torch (CPU) and the package
#
# Every command is idempotent: a second run reuses the virtual environment and
# only reinstalls when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")"

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
TORCH_PIN="torch==2.13.0"   # the CPU wheel; a bare "torch" pulls a multi-GB CUDA build
# 2 server processes (one per core), each warmed at start by dashboard/serving/warm_up.py; pages served from a
# cached template, a session built once when its websocket connects (--reuse-sessions); 4 threads each
# for the sessions' callbacks (heavy work goes to worker processes, dashboard/serving/jobs.py); websocket
# messages up to 16 MiB: an upload (at most zoo.MAX_UPLOAD_BYTES, 50 MB) travels in messages of
# 8 MiB (dashboard/serving/uploads.py).
# See README, "Serving a class".
SERVE_FLAGS="--num-procs 2 --setup dashboard/serving/warm_up.py --reuse-sessions --num-threads 4 --websocket-max-message-size 16777216"

python_for_venv() {
    for candidate in python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
    echo "No python3 found; install Python 3.11." >&2; exit 1
}

setup() {  # $1: pip extras, e.g. "test" or "test,notebook"
    local extras="${1:-test}"
    if [ ! -x "$PY" ]; then
        "$(python_for_venv)" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras//,/_}"
    if [ ! -f "$stamp" ]; then
        "$PY" -m pip install -q --upgrade pip
        "$PY" -m pip install -q "$TORCH_PIN"
        "$PY" -m pip install -q -e ".[$extras]"
        touch "$stamp"
    fi
}

browser() {  # Debian's Chromium for the browser tests (never `playwright install`)
    if command -v chromium >/dev/null 2>&1; then return; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
            echo "Could not install chromium: the browser tests will be skipped." >&2
    else
        echo "Chromium is missing and cannot be installed here: the browser tests will be skipped." >&2
    fi
}

case "${1:-}" in
    setup) setup test ;;
    serve) setup test; shift; args=()
           while [ $# -gt 0 ]; do  # --data DIR: a folder of datasets every session is offered (README, "Your own data")
               case "$1" in
                   --data) export EXPLORER_DATA="$(cd "$2" && pwd)"; shift 2 ;;
                   --data=*) export EXPLORER_DATA="$(cd "${1#--data=}" && pwd)"; shift ;;
                   *) args+=("$1"); shift ;;
               esac
           done
           # the app's modules (torch, Panel, the tabs) imported once, before --num-procs forks the server
           # processes, which then share them: two processes importing at once took twice the CPU (issue 30)
           exec "$PY" -c "import dashboard.app; from panel.command import main; main()" \
               serve app.py --port "${PORT:-5006}" $SERVE_FLAGS ${args[@]+"${args[@]}"} ;;
    test) setup "test,ww"; browser; shift
          "$PY" -m ruff check explorer dashboard tests bench app.py
          # one BLAS/OpenMP thread per process: two test workers (and the servers, kernels and jobs they
          # start) share 2 cores, where threaded BLAS on small matrices is 10-100x slower (measured)
          export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
          # the 20 slowest tests are printed at the end, so a test that grows is seen
          exec "$PY" -m pytest -n 2 --dist loadfile --durations=20 tests notebooks --nbmake --nbmake-timeout=300 "$@" ;;
    bench) setup "test,bench"; shift; exec "$PY" -m bench "$@" ;;
    notebooks) setup "test,notebook"
        # PANEL_INLINE: a notebook's pn.extension() sends Panel's and Bokeh's scripts from this machine
        # (the views work without internet); root (a container) needs --allow-root
        lab_args=(notebooks); if [ "$(id -u)" = 0 ]; then lab_args+=(--allow-root); fi
        PANEL_INLINE=1 exec "$VENV/bin/jupyter" lab "${lab_args[@]}" ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
esac
