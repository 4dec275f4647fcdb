"""Optional compiled forward passes for the search: `torch.compile` of the decoder layers (fusing the
elementwise work between the GEMMs), and CUDA graphs on top of it for small models on a GPU
(`reduce-overhead`: one graph launch per batch instead of hundreds of kernel launches).

Compiled kernels reorder floating-point work, so they are trusted only after an agreement check
on the first batch a compiled model scores. A float32 model: that batch is also scored eagerly, and
the two must agree (Spearman >= 0.999, largest difference under 1% of the batch's score spread). A
bfloat16-mixed model: eager bf16 is itself an approximation of float32 (fused kernels keep float32
inside a kernel where eager rounds each op's output to bf16), so both are compared with the batch
scored with the float32 weights, and the compiled scores must be no further from float32 than eager's
(Spearman deficit and mean difference at most 1.25x eager's, plus a margin). Otherwise the model falls
back to eager for good, with a warning. What is compiled is the decoder layer (regional compilation:
one layer's code, built once, serves every layer); batches are padded to one size and the prefix
length is marked dynamic, so one graph, built and checked once per model and process, serves every
prompt of a battery. Built kernels are also kept on disk by inductor's cache (TORCHINDUCTOR_CACHE_DIR).
"""
from __future__ import annotations

import contextlib
import warnings

import torch

COMPILE_MODES = {"off": None, "on": "default", "cudagraphs": "reduce-overhead"}  # max-autotune: minutes to compile
BACKEND = "inductor"  # torch.compile's backend (tests on CPU use aot_eager: inductor's C++ build takes minutes)
MIN_SPEARMAN = 0.999
MAX_SPREAD_SHARE = 0.01


def _compiled(lm, choice: str) -> list:
    """One compiled callable per decoder layer of `lm` (built on first use, kept with the model)."""
    cache = lm.__dict__.setdefault("compiled", {})
    if choice not in cache:
        mode = COMPILE_MODES[choice]
        if choice == "cudagraphs" and not lm.device.startswith("cuda"):
            mode = COMPILE_MODES["on"]  # CUDA graphs need a GPU; the compiled kernels still help
        options = {"mode": mode} if BACKEND == "inductor" else {}
        cache[choice] = [torch.compile(layer, backend=BACKEND, dynamic=None, **options)
                         for layer in lm.backbone.layers]
    return cache[choice]


def wants_compiled(lm, choice: str) -> bool:
    if choice == "off" or getattr(lm, "compile_failed", False):
        return False
    if not isinstance(getattr(lm.backbone, "layers", None), torch.nn.ModuleList):
        reject(lm, "the backbone has no list of decoder layers (`layers`) to compile")
        return False
    return True


@contextlib.contextmanager
def compiled_layers(lm, choice: str):
    """Inside: `lm`'s decoder layers are their compiled versions (nothing changes for `off`, or after a
    failed check). The layers are the model's repeated block: compiling one layer's code once serves all
    of them, so kernels build in seconds rather than the minutes a whole-model graph takes."""
    if not wants_compiled(lm, choice):
        yield
        return
    layers = lm.backbone.layers
    originals = list(layers)
    for i, layer in enumerate(_compiled(lm, choice)):
        layers[i] = layer
    try:
        yield
    finally:
        for i, layer in enumerate(originals):
            layers[i] = layer


MIXED_SLACK = 1.25  # compiled bf16 may be this much further from float32 than eager bf16 is
MIXED_MARGIN_SPEARMAN = 2e-4  # ... plus these margins, for batches where eager happens to be very close
MIXED_MARGIN_SPREAD = 0.002


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr  # scipy: only when a compiled backbone is checked

    return 1.0 if len(a) < 3 else float(spearmanr(a, b).statistic)


def agrees(eager: torch.Tensor, compiled: torch.Tensor, float32: torch.Tensor | None = None) -> tuple[bool, str]:
    """Whether compiled scores of one batch may stand in for eager ones. `float32`: the batch scored with
    float32 weights, for a bfloat16-mixed model (then both are judged by their distance to it)."""
    a, b = eager.float().flatten().cpu().numpy(), compiled.float().flatten().cpu().numpy()
    if float32 is None:
        spread = float(a.std()) or 1.0
        worst = float(abs(a - b).max())
        rho = _spearman(a, b)
        ok = rho >= MIN_SPEARMAN and worst <= MAX_SPREAD_SHARE * spread
        return ok, f"Spearman {rho:.5f}, largest difference {worst:.3g} ({worst / spread:.1%} of the spread)"
    ref = float32.float().flatten().cpu().numpy()
    spread = float(ref.std()) or 1.0
    rho_eager, rho_compiled = _spearman(a, ref), _spearman(b, ref)
    diff_eager, diff_compiled = float(abs(a - ref).mean()), float(abs(b - ref).mean())
    ok = (1 - rho_compiled <= MIXED_SLACK * (1 - rho_eager) + MIXED_MARGIN_SPEARMAN
          and diff_compiled <= MIXED_SLACK * diff_eager + MIXED_MARGIN_SPREAD * spread)
    return ok, (f"against float32: Spearman {rho_compiled:.5f} (eager bf16 {rho_eager:.5f}), mean difference "
                f"{diff_compiled:.3g} (eager bf16 {diff_eager:.3g})")


def reject(lm, why: str) -> None:
    lm.compile_failed = True
    lm.compile_verdict = f"not used ({why}): scored eagerly"
    warnings.warn(f"Compiled scoring of {lm.spec.alias} not used ({why}): scoring eagerly.", stacklevel=3)


def accept(lm, why: str) -> None:
    lm.compile_checked = True
    lm.compile_verdict = f"checked on the first batch, {why}"
