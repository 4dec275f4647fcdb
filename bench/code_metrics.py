"""Code-shape counts the architecture guide tracks: lines per page, function-local imports, and the
places that build a job's params (calls of jobs.submit / run_foreground whose params are not a
request's `to_params()`).

    python bench/code_metrics.py
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMITTERS = {"submit", "run_foreground"}


def _sources():
    for folder in ("engine", "app"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def function_local_imports() -> list[str]:
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return sorted(set(found))


def params_built() -> list[str]:
    """Job submissions whose params argument is anything but `<request>.to_params()`."""
    found = []
    for path in _sources():
        if path.parts[-2:] == ("jobs", "api.py"):
            continue  # the submitters themselves
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name not in SUBMITTERS or len(node.args) < 2:
                continue
            params = node.args[1]
            typed = isinstance(params, ast.Call) and isinstance(params.func, ast.Attribute) and params.func.attr == "to_params"
            if not typed:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def page_lines() -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in sorted((ROOT / "app" / "views").glob("*.py"))}


if __name__ == "__main__":
    pages = page_lines()
    print("lines per page:", ", ".join(f"{k} {v}" for k, v in pages.items()), f"(total {sum(pages.values())})")
    local = function_local_imports()
    print(f"function-local imports (engine/ and app/): {len(local)}")
    built = params_built()
    print(f"job submissions with hand-built params: {len(built)}" + "".join(f"\n  {p}" for p in built))
