"""environment.yml (conda, for learners) lists the same dependencies as pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_every_dependency_is_in_environment_yml():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
    wanted = {CONDA_NAMES.get(_name(d), _name(d)) for d in project["dependencies"]}
    assert wanted <= conda, f"missing from environment.yml: {sorted(wanted - conda)}"
    extra = conda - wanted - {"python", "pip", "jupyterlab"}
    assert not extra, f"in environment.yml but not in pyproject.toml: {sorted(extra)}"
