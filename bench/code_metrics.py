"""Code-shape counts the architecture guide tracks: lines per page, function-local imports, and the
places that build a job's params (calls of jobs.submit / run_foreground whose params are not a
request's `to_params()`).

Function-local imports come in two kinds. Deliberate lazy ones put off a heavy library (HEAVY), or an
engine module that imports one when it is imported (followed through engine's module-level imports,
statically), so that `valuescope --help`, a light command or a page does not pay for it; or they try
an optional dependency (`try: import x except ImportError`). The others have no such reason and
belong at the top of their file.

    python bench/code_metrics.py          # counts, and every function-local import that is not lazy on purpose
    python bench/code_metrics.py --all    # also list the deliberate ones, marking those without a why-comment
"""
from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMITTERS = {"submit", "run_foreground"}
# Libraries worth a lazy import: not loaded by `valuescope --help` and slow to import (python -X importtime,
# 2 shared cores: datasets 3.9 s, torch 2.2 s, accelerate 2.1 s, transformers 2.1 s, statsmodels.formula.api
# 1.7 s, scipy.stats 1.2 s, openpyxl 1.2 s, altair 0.8 s, trl 0.3 s, gguf 0.2 s, streamlit 0.2 s; the rest
# load torch or transformers), or large in memory (vl_convert: 9 MB resident). Plain `scipy` and `statsmodels`
# are light: their submodules are not.
HEAVY = ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "bitsandbytes", "huggingface_hub",
         "ray", "scipy.", "statsmodels.", "openpyxl", "altair", "gguf", "streamlit", "vl_convert")


def _sources():
    for folder in ("engine", "app"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def function_local_imports() -> list[str]:
    return [where for where, _, _ in _local_imports()]


def _local_imports() -> list[tuple[str, ast.stmt, Path]]:
    """(path:line, import node, source file) of every import inside a function, sorted by path:line."""
    found = {}
    for path in _sources():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        found.setdefault(f"{path.relative_to(ROOT)}:{node.lineno}", (node, path))
    return [(where, node, path) for where, (node, path) in sorted(found.items())]


def _optional_imports(path: Path) -> set[int]:
    """Lines of imports inside `try: ... except ImportError`: an optional dependency, tried where it is used."""
    lines = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Try) and any(h.type is not None and any(
                name in ast.unparse(h.type) for name in ("ImportError", "ModuleNotFoundError")) for h in node.handlers):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return lines


def _targets(node: ast.stmt) -> list[str]:
    """The modules an import statement loads (`from a import b` loads a, and a.b when b is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    in_repo = base.split(".")[0] in ("engine", "app")  # elsewhere a name may be a submodule (`from scipy import stats`)
    return [base, *(f"{base}.{alias.name}" for alias in node.names
                    if not in_repo or _module_file(f"{base}.{alias.name}"))]


def _module_file(name: str) -> Path | None:
    if name.split(".")[0] not in ("engine", "app"):
        return None
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def is_heavy_library(name: str) -> bool:
    return any(name.startswith(h) if h.endswith(".") else name == h or name.startswith(h + ".") for h in HEAVY)


@cache
def _module_level_imports(name: str) -> tuple[str, ...]:
    """Modules an engine or app module imports when it is imported, its packages' `__init__` included
    (not inside functions, not under `if TYPE_CHECKING`); () for a module outside engine/ and app/."""
    parts = name.split(".")
    names = [".".join(parts[:i]) for i in range(1, len(parts))]  # a module's packages are imported first

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.extend(_targets(node))
            for field in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, field, None) or [])

    path = _module_file(name)
    if path is not None:
        visit(ast.parse(path.read_text()).body)
    return tuple(names)


def heavy_reason(name: str) -> str | None:
    """`name -> ... -> heavy library` when importing `name` loads a HEAVY library (breadth first through
    engine's and app's module-level imports), else None."""
    came_from: dict[str, str | None] = {name: None}
    queue = [name]
    while queue:
        module = queue.pop(0)
        if is_heavy_library(module):
            chain = [module]
            while came_from[chain[-1]] is not None:
                chain.append(came_from[chain[-1]])
            return " -> ".join(reversed(chain))
        for target in _module_level_imports(module):
            if target not in came_from:
                came_from[target] = module
                queue.append(target)
    return None


def _has_why_comment(lines: list[str], index: int) -> bool:
    """A comment on the import's line, on another line of its block of imports, or on the line above the block."""
    start = end = index
    while start > 0 and lines[start - 1].strip().startswith(("import ", "from ")):
        start -= 1
    while end + 1 < len(lines) and lines[end + 1].strip().startswith(("import ", "from ")):
        end += 1
    return any("#" in line for line in lines[start:end + 1]) or (start > 0 and lines[start - 1].strip().startswith("#"))


def classify_local_imports() -> tuple[list[tuple[str, str, bool]], list[tuple[str, str]]]:
    """(deliberate: (where, why, has a why-comment), other: (where, the import)) over engine/ and app/."""
    deliberate, other = [], []
    for where, node, path in _local_imports():
        why = next((w for w in map(heavy_reason, _targets(node)) if w), None)
        if why is None and node.lineno in _optional_imports(path):
            why = "an optional dependency (try/except ImportError)"
        if why:
            deliberate.append((where, why, _has_why_comment(path.read_text().splitlines(), node.lineno - 1)))
        else:
            other.append((where, ast.unparse(node)))
    return deliberate, other


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
    deliberate, other = classify_local_imports()
    print(f"function-local imports (engine/ and app/): {len(deliberate) + len(other)}: {len(deliberate)} deliberately "
          f"lazy (a heavy library, an engine module that loads one, or an optional one), {len(other)} other"
          + "".join(f"\n  {where}: {what}" for where, what in other))
    silent = [where for where, _, commented in deliberate if not commented]
    print(f"deliberately lazy imports without a why-comment: {len(silent)}")
    if "--all" in sys.argv:
        print("".join(f"  {where}: {why}{'' if commented else '  (no comment)'}\n" for where, why, commented in deliberate),
              end="")
    built = params_built()
    print(f"job submissions with hand-built params: {len(built)}" + "".join(f"\n  {p}" for p in built))
