"""Run a tab's analysis in a fresh interpreter and check that it imported no UI library."""

import subprocess
import sys

UI_LIBRARIES = ("panel", "bokeh", "holoviews", "hvplot")


def run_without_ui(code: str) -> str:
    """Run ``code`` (which prints its result) in a fresh interpreter; return what it printed, and
    fail if it imported any of :data:`UI_LIBRARIES`."""
    check = ("\nimport sys\n"
             f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI_LIBRARIES!r})\n"
             "print('UI:' + ','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, check=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    *printed, ui = out.stdout.strip().splitlines()
    assert ui == "UI:", f"the analysis imported UI modules: {ui[3:]}"
    return "\n".join(printed)
