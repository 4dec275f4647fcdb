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


# Every top-level module and folder of engine/, lowest first: a module imports only its own folder and lower ones.
LAYERS = ["errors", "options", "paths", "processes", "migrate", "prompts", "config_fields", "configs", "models", "policy", "scoring",
          "analysis", "store", "reports", "workflows", "training", "jobs", "sweeps", "cli"]


def test_every_top_level_module_and_folder_has_a_layer():
    engine = ROOT / "engine"
    names = {p.stem for p in engine.glob("*.py") if p.stem not in ("__init__", "__main__")}
    names |= {p.name for p in engine.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert not names - set(LAYERS), f"place these in LAYERS: {sorted(names - set(LAYERS))}"


def _engine_imports(path) -> set[str]:
    """The engine modules a file imports, at any depth (`from engine.x import y` counts y when it is a module)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("engine"):
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("engine")}
    return found


KNOWN_CIRCLES: set[frozenset[str]] = set()  # none left; a new circle is merged into one file or split downward


def test_no_import_circles_inside_a_folder():
    """Files of one folder (engine/'s top-level modules count as one) import each other in one direction only,
    at any depth in the file: a circle closed by an import inside a function is still a circle."""
    import networkx as nx

    modules = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] not in ("__init__", "__main__"):
            modules[".".join(parts)] = path
    graph = nx.DiGraph()
    for name, path in modules.items():
        folder = name.rsplit(".", 1)[0]
        graph.add_node(name)
        graph.add_edges_from((name, t) for t in _engine_imports(path)
                             if t in modules and t != name and t.rsplit(".", 1)[0] == folder)
    circles = {frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1}
    assert circles <= KNOWN_CIRCLES, sorted(sorted(c) for c in circles - KNOWN_CIRCLES)


def test_folders_import_only_downward():
    """A module's engine imports (at any depth in the file) go to its own folder or to a lower layer."""
    import ast

    rank = {name: i for i, name in enumerate(LAYERS)}
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
