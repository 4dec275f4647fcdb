"""Optional compiled forward passes for the search: `torch.compile` of the backbone (fusing the
elementwise work between the GEMMs), and CUDA graphs on top of it for small models on a GPU
(`reduce-overhead`: one graph launch per batch instead of hundreds of kernel launches).

Compiled kernels reorder floating-point work, so they are trusted only after an agreement check:
the first batch a compiled model scores is also scored eagerly, and unless the two rankings agree
(Spearman >= 0.999 and the largest difference under 1% of the batch's score spread) the model
falls back to eager for good, with a warning. Batches are padded to one size so the compiled graph
(and its CUDA graph) is built once.
"""
from __future__ import annotations

import warnings

import torch

COMPILE_MODES = {"off": None, "on": "default", "cudagraphs": "reduce-overhead"}  # max-autotune: minutes to compile
BACKEND = "inductor"  # torch.compile's backend (tests on CPU use aot_eager: inductor's C++ build takes minutes)
MIN_SPEARMAN = 0.999
MAX_SPREAD_SHARE = 0.01


def compiled_backbone(lm, choice: str):
    """The callable that runs `lm`'s backbone under `choice` (off: the backbone itself)."""
    if choice == "off" or getattr(lm, "compile_failed", False):
        return lm.backbone
    cache = lm.__dict__.setdefault("compiled", {})
    if choice not in cache:
        mode = COMPILE_MODES[choice]
        if choice == "cudagraphs" and not lm.device.startswith("cuda"):
            mode = COMPILE_MODES["on"]  # CUDA graphs need a GPU; the compiled kernels still help
        options = {"mode": mode} if BACKEND == "inductor" else {}
        cache[choice] = torch.compile(lm.backbone, backend=BACKEND, dynamic=False, **options)
    return cache[choice]


def agrees(eager: torch.Tensor, compiled: torch.Tensor) -> tuple[bool, str]:
    """Whether compiled scores of one batch may stand in for eager ones."""
    from scipy.stats import spearmanr  # scipy: only when a compiled backbone is checked

    a, b = eager.float().flatten().cpu().numpy(), compiled.float().flatten().cpu().numpy()
    spread = float(a.std()) or 1.0
    worst = float(abs(a - b).max())
    rho = 1.0 if len(a) < 3 else float(spearmanr(a, b).statistic)
    ok = rho >= MIN_SPEARMAN and worst <= MAX_SPREAD_SHARE * spread
    return ok, f"Spearman {rho:.5f}, largest difference {worst:.3g} ({worst / spread:.1%} of the spread)"


def reject(lm, why: str) -> None:
    lm.compile_failed = True
    warnings.warn(f"Compiled scoring of {lm.spec.alias} disagreed with eager ({why}): scoring eagerly.", stacklevel=3)
