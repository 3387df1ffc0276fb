"""The README's library tour runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_library_tour_in_the_readme_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text[text.index("## Using the library"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace("/tmp/mine.pt", str(tmp_path / "mine.pt"))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "activation regions" in out and "DeepFool flipped 100%" in out and "ok" in out
    assert (tmp_path / "mine.pt").exists()
