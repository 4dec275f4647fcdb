"""The engine's layout rules, checked through sys.modules in fresh interpreters (issue 6/10)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT



def _imported(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("module, forbidden", [
    ("engine.analysis", {"torch", "duckdb"}),
    ("engine.analysis.values", {"torch", "duckdb"}),
    ("engine.analysis.implicit", {"torch", "duckdb"}),
    ("engine.store", {"torch"}),
    ("engine.store.db", {"torch"}),
    ("engine.store.queries", {"torch"}),
    ("engine.jobs", {"torch", "duckdb"}),
    ("engine.configs", {"torch", "duckdb", "pandas"}),
    ("engine.options", {"torch", "duckdb", "pandas"}),
    ("engine.models.registry", {"torch", "duckdb", "pandas"}),
    ("engine.training.config", {"torch", "duckdb", "pandas"}),  # the Training form reads it
])
def test_light_modules_stay_light(module, forbidden):
    assert not (_top(_imported(module)) & forbidden)


def _engine_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_no_engine_module_imports_streamlit_or_the_cli():
    outside_cli = [m for m in _engine_modules() if not m.startswith("engine.cli")]
    code = ("import importlib, sys\n"
            f"for name in {outside_cli!r}:\n"
            "    importlib.import_module(name)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "streamlit" not in _top(loaded)
    assert not {m for m in loaded if m == "engine.cli" or m.startswith("engine.cli.")}


def test_folders_import_only_downward():
    """A module's engine imports (at any depth in the file) go to its own folder or to a lower layer."""
    import ast

    layers = ["errors", "options", "paths", "prompts", "configs", "models", "scoring", "analysis", "store", "reports",
              "workflows", "training", "jobs", "sweeps", "cli"]
    rank = {name: i for i, name in enumerate(layers)}
    problems = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        rel = path.relative_to(ROOT / "engine").with_suffix("").parts
        if len(rel) == 1 and rel[0] in ("__init__", "__main__"):
            continue
        own = rel[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("engine."):
                target = node.module.split(".")[1]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("engine.")]
                target = targets[0] if targets else None
            else:
                continue
            if target is None or target == own or target not in rank or own not in rank:
                continue
            if rank[target] > rank[own]:
                problems.append(f"{'/'.join(rel)} imports engine.{target}")
    assert not problems, problems
