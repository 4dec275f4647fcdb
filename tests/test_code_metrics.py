"""bench/code_metrics.py's counts: function-local imports are lazy on purpose or listed; no job params built by
hand; and `valuescope --help` stays free of the heavy libraries the lazy imports put off."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

from helpers import ROOT

spec = importlib.util.spec_from_file_location("code_metrics", ROOT / "bench" / "code_metrics.py")
metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(metrics)


def test_an_import_is_heavy_through_the_engine_modules_it_loads():
    assert metrics.heavy_reason("torch") == "torch"
    assert metrics.heavy_reason("engine.models.loading").endswith("torch")
    assert metrics.heavy_reason("engine.analysis.stats").split(" -> ")[-1].startswith(("scipy.", "statsmodels."))
    assert metrics.heavy_reason("scipy") is None and metrics.heavy_reason("engine.errors") is None
    assert metrics.heavy_reason("engine.jobs") is None  # the job layer is light: imported by every page


def test_the_command_line_workflows_and_jobs_have_no_needless_local_import():
    _, other = metrics.classify_local_imports()
    mine = ("engine/cli/", "engine/workflows/", "engine/jobs/", "engine/sweeps/run.py", "engine/sweeps/plan.py",
            "engine/errors.py", "app/views/runs.py", "app/views/base_models.py", "app/views/values.py")
    assert not [where for where, _ in other if where.startswith(mine) and not where.startswith("engine/cli/train.py")]
    assert metrics.params_built() == []


def test_help_loads_no_heavy_library():
    code = ("import sys\nfrom engine.cli import build_parser\nbuild_parser().format_help()\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.split())
    assert not [m for m in loaded if metrics.is_heavy_library(m)], sorted(m for m in loaded if metrics.is_heavy_library(m))
