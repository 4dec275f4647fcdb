"""What pyproject.toml declares is what the README's install commands install: their
`pip install -r requirements.txt` (or requirements-dev.txt, which includes it) pins every runtime
dependency and the `train` extra, since `pip install --no-deps -e .` installs no dependency itself."""
from __future__ import annotations

import re
import tomllib

from helpers import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pinned(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            pins |= _pinned(path.parent / line[3:].strip())
        elif "==" in line:
            pins[_name(line)] = line.split("==")[1]
    return pins


def test_runtime_and_training_dependencies_are_pinned_where_the_readme_installs_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    train = {_name(r) for r in project["optional-dependencies"]["train"]}
    assert {"trl", "peft"} <= train
    needed = {_name(r) for r in project["dependencies"]} | train
    needed -= {"torch", "datasets"}  # torch: its own first command; datasets: installed with trl, which requires it
    readme = (ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("pip install torch")]
    assert len(commands) >= 2, commands
    for command in commands:
        requirements = re.search(r"pip install -r (\S+)", command).group(1)
        missing = needed - set(_pinned(ROOT / requirements))
        assert not missing, f"{requirements} does not pin {sorted(missing)}: `{command}` would not install them"
