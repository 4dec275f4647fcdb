"""Which precision `dtype=auto` means on a CPU (torch-free: request keys are computed without torch).

The method and its thresholds are described in engine.models.precision. Here: the CPU's bf16 units
(read from /proc/cpuinfo), and the verdicts of the agreement check, one per (model, CPU kind),
kept in `<home>/precision_checks.json` by bench/cpu_limit_bench.py.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

from engine.paths import home_dir

MIXED = "bfloat16-mixed"
MIN_SPEARMAN = 0.999
ENDS = 50  # the top and bottom that must be the same candidates as float32's
CHECKS_FILE = "precision_checks.json"


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_bf16_units() -> str | None:
    """"AMX" or "AVX-512 BF16" when the CPU multiplies bf16 in hardware, else None (then bf16 is emulated)."""
    flags = cpu_flags()
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    return None


def cpu_kind() -> str:
    """What a verdict is valid for: the CPU model name and its bf16 units."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{name} [{cpu_bf16_units() or 'no bf16 units'}]"


def _path(home) -> Path:
    return home_dir(home) / CHECKS_FILE


def model_identity(spec) -> str:
    return f"{spec.source}@{spec.revision or 'default'}"


def read_verdicts(home=None) -> dict:
    try:
        return json.loads(_path(home).read_text())
    except (OSError, ValueError):
        return {}


def record_verdict(spec, spearman: float, top_same: int, bottom_same: int, n: int, home=None) -> dict:
    """Store the agreement check of `spec` on this CPU; returns the verdict."""
    verdict = {"cpu": cpu_kind(), "spearman": round(float(spearman), 6), "top_same": int(top_same),
               "bottom_same": int(bottom_same), "sample": int(n), "ends": ENDS,
               "passed": bool(spearman >= MIN_SPEARMAN and top_same == ENDS and bottom_same == ENDS)}
    verdicts = read_verdicts(home)
    verdicts.setdefault(model_identity(spec), {})[cpu_kind()] = verdict
    path = _path(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(verdicts, indent=1, sort_keys=True))
    tmp.replace(path)
    return verdict


def auto_cpu_dtype(spec, home=None) -> tuple[str, str]:
    """(dtype, why) that `auto` means for `spec` on this CPU: bfloat16-mixed or float32."""
    units = cpu_bf16_units()
    if units is None:
        return "float32", "this CPU has no bf16 units (no amx_bf16 or avx512_bf16 flag): bf16 would be emulated"
    verdict = read_verdicts(home).get(model_identity(spec), {}).get(cpu_kind())
    if verdict is None:
        return "float32", f"{units} present, but no agreement check of this model on this CPU (bench/cpu_limit_bench.py)"
    if not verdict["passed"]:
        return "float32", (f"agreement check failed: Spearman {verdict['spearman']}, top {verdict['top_same']}/{ENDS}, "
                           f"bottom {verdict['bottom_same']}/{ENDS}")
    return MIXED, f"{units}; agreement check passed (Spearman {verdict['spearman']})"


def keyed_dtype(dtype: str, device: str | None, spec) -> str:
    """The dtype a request key records: `auto` on a CPU that resolves to bfloat16-mixed is keyed as such,
    so its runs are never served for a float32 request (and keys of float32 runs stay what they were)."""
    if dtype == "auto" and (device or "cpu").split(":")[0] == "cpu" and auto_cpu_dtype(spec)[0] == MIXED:
        return MIXED
    return dtype
