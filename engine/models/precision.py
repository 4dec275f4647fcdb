"""bfloat16 matmuls on CPUs that have bf16 units, kept faithful to float32.

Method ("bfloat16-mixed"). The weights stay float32; every Linear layer of the backbone also keeps a
bfloat16 copy (made once, at load time) and runs under `torch.autocast`, so the matrix
multiplications (and the shared-prefix attention's q.k and p.v products) use the CPU's AMX or
AVX-512 BF16 units with float32 accumulation, while the embeddings, norms, residual stream and
softmax stay float32. Each decoder layer's attention and MLP blocks receive their (normed) input
cast to bfloat16 once, rather than once per Linear inside them: the same rounding, fewer copies.
The shared prompt prefix is run once per search, so it runs with the float32 weights (its keys and
values are rounded to bf16 only inside the attention products of each batch). The reward head reads the
final hidden state in float32, and after the search the top and bottom candidates are scored again
with the float32 weights, so the ends of the ranking, which analyses read most, are float32 numbers.

Which CPUs use it. `dtype=auto` on a CPU picks bfloat16-mixed only where (1) the CPU reports
bf16 units (Linux /proc/cpuinfo flags `amx_bf16` or `avx512_bf16`; without them torch emulates
bf16 and it is slower than float32), and (2) the agreement check of bench/cpu_limit_bench.py has
passed for this model on this kind of CPU: Spearman >= 0.999 against float32 over a vocabulary
sample and the same top and bottom 50. The check's verdict is kept in `<home>/precision_checks.json`;
a model never checked, a CPU without the flags (older x86, AMD before Zen 4, Apple silicon, any
non-Linux host) or a failed check falls back to float32. `engine.models.precision_checks` holds the
torch-free part (flags and verdicts), so request keys are computed without importing torch.
"""
from __future__ import annotations

import contextlib

import torch

MIXED = "bfloat16-mixed"


def bf16_linear_weights(model: torch.nn.Module, head: torch.nn.Module | None) -> dict:
    """Give every Linear of `model` except `head` a bfloat16 weight; return the float32 originals
    (name -> tensor) so `float32_weights` can swap them back without copying."""
    originals = {}
    head_ids = {id(m) for m in head.modules()} if head is not None else set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and id(module) not in head_ids and module.weight.dtype == torch.float32:
            originals[name] = (module, module.weight.data, module.weight.data.to(torch.bfloat16))
            module.weight.data = originals[name][2]
    if originals:
        bf16_block_inputs(model)
    return originals


def _cast_input_under_autocast(module, args, kwargs):
    hidden = args[0] if args else kwargs.get("hidden_states")
    if hidden is None or hidden.dtype != torch.float32 or not torch.is_autocast_enabled(hidden.device.type):
        return None  # float32 passes (the re-score of the ends) are left alone
    hidden = hidden.to(torch.bfloat16)
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def bf16_block_inputs(model: torch.nn.Module) -> int:
    """Cast the input of every decoder layer's `self_attn` and `mlp` block to bfloat16 under autocast.
    Their input is the normed hidden state and feeds only Linear layers, which autocast would each cast
    on their own (three times for q, k and v). Returns how many blocks were hooked."""
    hooked = 0
    for module in model.modules():
        for block in (getattr(module, "self_attn", None), getattr(module, "mlp", None)):
            if isinstance(block, torch.nn.Module):
                block.register_forward_pre_hook(_cast_input_under_autocast, with_kwargs=True)
                hooked += 1
    return hooked


@contextlib.contextmanager
def float32_weights(originals: dict):
    """Inside: the float32 weights (for the re-score of the ranking's ends); outside: bfloat16 again."""
    for module, fp32, _ in originals.values():
        module.weight.data = fp32
    try:
        yield
    finally:
        for module, _, bf16 in originals.values():
            module.weight.data = bf16


def compute_context(lm, float32: bool = False):
    """The autocast context a forward pass of `lm` runs in: bf16 matmuls for bfloat16-mixed models
    (unless `float32`), nothing otherwise."""
    originals = getattr(lm, "bf16_weights", None)
    if not originals:
        return contextlib.nullcontext()
    if float32:
        return float32_weights(originals)
    return torch.autocast(lm.device.split(":")[0], dtype=torch.bfloat16)
