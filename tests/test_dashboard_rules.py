"""The dashboard's house rules, read from its source (docs/architecture.md, "The dashboard").

- A tab's analysis imports no UI library, even indirectly: a notebook or a test gets every number
  a tab shows from it in a plain Python process.
- Views and figures reach serving only through the upload widget (and callables the app hands
  them); the framework internals stay in dashboard/serving.
- Only the state module (and the app, which wires it) reads or writes the URL.
- No dashboard module is over 420 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "dashboard"
MAX_LINES = 420
UI_LIBRARIES = ("panel", "bokeh", "holoviews", "hvplot")


def _imports(path: Path) -> list[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = parts[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_views_and_figures_reach_serving_only_through_the_upload_widget_and_the_job_owner():
    # a view marks the session its background jobs work for (jobs.OWNER), so closing it cancels them
    allowed = {"dashboard.serving", "dashboard.serving.uploads", "dashboard.serving.uploads.Uploader",
               "dashboard.serving.uploads.limit_text", "dashboard.serving.jobs"}
    shown = [*DASHBOARD.glob("views/*.py"), *DASHBOARD.glob("tabs/*/view*.py"), *DASHBOARD.glob("tabs/*/figures*.py")]
    for path in shown:
        reached = {name for name in _imports(path) if name.startswith("dashboard.serving")} - allowed
        assert not reached, f"{path.relative_to(ROOT)} imports {sorted(reached)}"


def test_only_the_state_module_and_the_app_read_or_write_the_url():
    url_names = ("urlencode", "parse_qsl", "parse_query", "location.sync", "query_params")
    for path in DASHBOARD.rglob("*.py"):
        if path.relative_to(DASHBOARD).as_posix() in ("state.py", "app.py"):
            continue
        text = path.read_text()
        assert not [name for name in url_names if name in text], f"{path.relative_to(ROOT)} handles the URL"


def test_no_dashboard_module_is_over_the_size_limit():
    long = {path.relative_to(ROOT).as_posix(): n for path in DASHBOARD.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
