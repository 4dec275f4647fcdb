"""Score many short continuations of one prefix without copying the prefix's keys and values.

The prompt is run once; its per-layer keys/values (1 x heads x P x dim) stay shared. Each batch of
candidate suffixes (B x S tokens, S = reply + closing, usually 3) then runs through the model with
an attention function registered in transformers' AttentionInterface that attends to the shared
prefix by broadcasting (one matmul per head group over all B*S queries) and to the suffix causally.
Copying the prefix cache per candidate costs memory traffic that matters on a 2-core CPU.
Works for any model whose attention layers dispatch through ALL_ATTENTION_FUNCTIONS (Llama,
Gemma 2/3, Qwen, Mistral, ...), including logit soft-capping and sliding windows.

Each attention module holds its layer's prefix keys and values while a search runs
(`attached_prefix`, entered under the model's lock, so sessions that share a model never see each
other's prefix), and `run_suffixes` passes `shared_prefix=True` down to the attention function
(transformers forwards extra keyword arguments). Reading the prefix from the module rather than by
layer index keeps every decoder layer the same code for torch.compile: one compiled layer serves
all of them (engine.scoring.compiled). The attention implementation is set once, when the
model is loaded (`use_shared_prefix_attention`, through the public `set_attn_implementation`); a
forward pass without the keyword (the prefix itself, whole sequences) falls through to SDPA with
the usual masks, or, for models that soft-cap their attention logits (Gemma 2), which SDPA cannot,
to the model's own eager attention with eager's masks.
"""
from __future__ import annotations

import contextlib
import sys

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask, sdpa_mask

ATTENTION_NAME = "valuescope_shared_prefix"


def shared_prefix_attention(module, query, key, value, attention_mask=None, scaling=None, dropout=0.0,
                            sliding_window=None, softcap=None, shared_prefix=None, **kwargs):
    if shared_prefix is None:  # an ordinary forward pass
        if softcap is not None:  # SDPA cannot soft-cap logits (Gemma 2): the model's own eager attention
            eager = sys.modules[type(module).__module__].eager_attention_forward
            return eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                         sliding_window=sliding_window, softcap=softcap, **kwargs)
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      sliding_window=sliding_window, softcap=softcap, **kwargs)
    prefix_keys, prefix_values = module.shared_prefix_kv  # (Hkv, P, D) each: attached_prefix
    batch, n_heads, suffix_len, head_dim = query.shape
    scaling = head_dim**-0.5 if scaling is None else scaling
    device = query.device
    # the products' dtype: bf16 under autocast (bfloat16-mixed), else the model's. Every input below is cast
    # to it explicitly, so autocast changes nothing (and is not re-entered: that keeps compiled graphs cacheable)
    work = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else query.dtype
    out = _attend(query, key, value, prefix_keys, prefix_values, scaling, sliding_window, softcap, work)
    return out.view(batch, suffix_len, n_heads, head_dim), None


def _attend(query, key, value, prefix_keys, prefix_values, scaling, sliding_window, softcap, work):
    batch, n_heads, suffix_len, head_dim = query.shape
    n_kv = key.shape[1]
    group = n_heads // n_kv
    prefix_len = prefix_keys.shape[1]
    rows = group * suffix_len  # one kv head's query rows per candidate, ordered (head in group, position)
    device = query.device

    def laid_out(x, shape, order):  # cast and permute in one copy (the tensors here are memory-bound)
        return torch.empty(shape, dtype=work, device=device).copy_(x.permute(order))

    q = laid_out(query.unflatten(1, (n_kv, group)), (n_kv, batch, group, suffix_len, head_dim), (1, 0, 2, 3, 4))
    q = q.view(n_kv, batch, rows, head_dim)
    k = laid_out(key, (n_kv, batch, suffix_len, head_dim), (1, 0, 2, 3))
    v = laid_out(value, (n_kv, batch, suffix_len, head_dim), (1, 0, 2, 3))
    q_pos = torch.arange(suffix_len, device=device).unsqueeze(1) + prefix_len
    k_pos = torch.arange(prefix_len + suffix_len, device=device).unsqueeze(0)
    allowed = k_pos <= q_pos
    if sliding_window is not None:
        allowed &= (q_pos - k_pos) < sliding_window
    allowed = allowed.repeat(group, 1)  # (rows, P + S)

    if softcap is None:  # the scaling rides on the keys: the prefix's once per batch, the suffix's products
        prefix_keys = prefix_keys * scaling
    prefix_keys, prefix_values = prefix_keys.to(work), prefix_values.to(work)
    # scores against the shared prefix: one GEMM per kv head over every candidate's rows; against the suffix:
    # a few products per candidate
    scores_prefix = torch.bmm(q.view(n_kv, batch * rows, head_dim), prefix_keys.transpose(1, 2))
    scores_suffix = torch.matmul(q, k.transpose(-1, -2))  # (Hkv, B, rows, S)
    if softcap is not None:
        scores = torch.cat([scores_prefix.view(n_kv, batch, rows, prefix_len), scores_suffix], dim=-1).float()
        scores = torch.tanh(scores * (scaling / softcap)) * softcap
        probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1).to(work)
    else:
        scores_suffix = scores_suffix * scaling
        if sliding_window is None or prefix_len + suffix_len <= sliding_window:  # only the suffix is masked
            scores_suffix = scores_suffix.masked_fill(~allowed[:, prefix_len:], float("-inf"))
            scores = torch.cat([scores_prefix.view(n_kv, batch, rows, prefix_len), scores_suffix], dim=-1)
        else:
            scores = torch.cat([scores_prefix.view(n_kv, batch, rows, prefix_len), scores_suffix], dim=-1)
            scores = scores.masked_fill(~allowed, float("-inf"))
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(work)  # float32: also 2x faster than bf16

    # one GEMM per kv head for the prefix's values (a broadcast matmul would copy them for every candidate),
    # accumulated onto the suffix's
    out = torch.matmul(probs[..., prefix_len:], v).view(n_kv, batch * rows, head_dim)
    out = torch.baddbmm(out, probs[..., :prefix_len].reshape(n_kv, batch * rows, prefix_len), prefix_values)
    # (Hkv, B, group, S, D) -> (B, S, Hkv, group, D): the layout o_proj reads
    return laid_out(out.view(n_kv, batch, group, suffix_len, head_dim), (batch, suffix_len, n_kv, group, head_dim),
                    (1, 3, 0, 2, 4))


def soft_caps_attention(config) -> bool:
    """Whether the model soft-caps its attention logits (Gemma 2): SDPA cannot, so its ordinary passes run
    the model's eager attention."""
    return getattr(config, "attn_logit_softcapping", None) is not None


def ordinary_pass_mask(*args, config=None, **kwargs):
    """Masks for the ordinary passes: SDPA's, or eager's additive ones for models that soft-cap their
    attention logits (their ordinary passes run the model's eager attention, which needs them)."""
    if soft_caps_attention(config):
        return eager_mask(*args, config=config, **kwargs)
    return sdpa_mask(*args, config=config, **kwargs)


AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, ordinary_pass_mask)


def use_shared_prefix_attention(model) -> None:
    """Route `model`'s attention through `shared_prefix_attention` (once, at load time)."""
    model.set_attn_implementation(ATTENTION_NAME)


def _cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if hasattr(cache, "layers"):  # transformers >= 4.56
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


@torch.no_grad()
def encode_prefix(backbone, prefix_ids: list[int], device) -> tuple[list, torch.Tensor]:
    """Run the prefix once; return its per-layer (keys, values) and its final hidden states."""
    ids = torch.tensor([prefix_ids], device=device)
    out = backbone(input_ids=ids, use_cache=True)
    layers = [(k[0].contiguous(), v[0].contiguous()) for k, v in _cache_layers(out.past_key_values)]
    return layers, out.last_hidden_state[0]


PREFIX_ATTRIBUTE = "shared_prefix_kv"


@contextlib.contextmanager
def attached_prefix(backbone, prefix_layers: list, dynamic: bool = False):
    """Inside: each decoder layer's attention module holds its (keys, values) of the prefix. `dynamic`: the
    prefix length is marked dynamic (a compiled graph then serves every prompt)."""
    # the attention modules (and any other module that knows its layer: harmless) of every decoder layer
    attentions = [m for m in backbone.modules() if isinstance(getattr(m, "layer_idx", None), int)]
    for attention in attentions:
        keys, values = prefix_layers[attention.layer_idx]
        if dynamic:
            torch._dynamo.mark_dynamic(keys, 1)
            torch._dynamo.mark_dynamic(values, 1)
        setattr(attention, PREFIX_ATTRIBUTE, (keys, values))
    try:
        yield
    finally:
        for attention in attentions:
            delattr(attention, PREFIX_ATTRIBUTE)


@torch.no_grad()
def run_suffixes(backbone, suffix_ids: torch.Tensor, prefix_len: int) -> torch.Tensor:
    """Final hidden states (B x S x H) of right-padded suffixes placed after the shared prefix of
    `prefix_len` tokens, attached with `attached_prefix` (a sliding-window layer may keep fewer of its
    keys: positions come from here)."""
    # one row of positions for the whole batch: rotary tables are computed once, then broadcast
    positions = torch.arange(prefix_len, prefix_len + suffix_ids.shape[1], device=suffix_ids.device)
    return backbone(input_ids=suffix_ids, position_ids=positions.unsqueeze(0), use_cache=False,
                    shared_prefix=True).last_hidden_state
