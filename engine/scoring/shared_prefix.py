"""Score many short continuations of one prefix without copying the prefix's keys and values.

The prompt is run once; its per-layer keys/values (1 x heads x P x dim) stay shared. Each batch of
candidate suffixes (B x S tokens, S = reply + closing, usually 3) then runs through the model with
an attention function registered in transformers' AttentionInterface that attends to the shared
prefix by broadcasting (one matmul per head group over all B*S queries) and to the suffix causally.
Copying the prefix cache per candidate costs memory traffic that matters on a 2-core CPU.
Works for any model whose attention layers dispatch through ALL_ATTENTION_FUNCTIONS (Llama,
Gemma 2/3, Qwen, Mistral, ...), including logit soft-capping and sliding windows.

The prefix travels explicitly: transformers passes extra forward keyword arguments down to the
attention function, so `run_suffixes` hands each call its own `shared_prefix=...` and sessions that
share a model never see each other's prefix. The attention implementation is set once, when the
model is loaded (`use_shared_prefix_attention`, through the public `set_attn_implementation`); a
forward pass without the keyword (the prefix itself, whole sequences) falls through to SDPA with
the usual masks.
"""
from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

ATTENTION_NAME = "valuescope_shared_prefix"


def shared_prefix_attention(module, query, key, value, attention_mask=None, scaling=None, dropout=0.0,
                            sliding_window=None, softcap=None, shared_prefix=None, **kwargs):
    if shared_prefix is None:  # an ordinary forward pass
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      sliding_window=sliding_window, softcap=softcap, **kwargs)
    prefix_keys, prefix_values = shared_prefix[module.layer_idx]  # (Hkv, P, D) each
    batch, n_heads, suffix_len, head_dim = query.shape
    n_kv = key.shape[1]
    group = n_heads // n_kv
    prefix_len = prefix_keys.shape[1]
    scaling = head_dim**-0.5 if scaling is None else scaling

    q = query.reshape(batch, n_kv, group, suffix_len, head_dim)
    q_flat = q.permute(1, 0, 2, 3, 4).reshape(n_kv, batch * group * suffix_len, head_dim)
    scores_prefix = torch.bmm(q_flat, prefix_keys.transpose(1, 2))  # (Hkv, B*g*S, P)
    scores_prefix = scores_prefix.view(n_kv, batch, group, suffix_len, prefix_len).permute(1, 0, 2, 3, 4)
    scores_suffix = torch.matmul(q, key.unsqueeze(2).transpose(-1, -2))  # (B, Hkv, g, S, S)
    scores = torch.cat([scores_prefix, scores_suffix], dim=-1).float() * scaling  # bf16 products, fp32 softmax
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap

    q_pos = torch.arange(suffix_len, device=query.device).unsqueeze(1) + prefix_len
    k_pos = torch.arange(prefix_len + suffix_len, device=query.device).unsqueeze(0)
    allowed = k_pos <= q_pos
    if sliding_window is not None:
        allowed &= (q_pos - k_pos) < sliding_window
    scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores.float(), dim=-1).to(value.dtype)

    probs_prefix = probs[..., :prefix_len].permute(1, 0, 2, 3, 4).reshape(n_kv, batch * group * suffix_len, prefix_len)
    out_prefix = torch.bmm(probs_prefix, prefix_values).view(n_kv, batch, group, suffix_len, head_dim)
    out = out_prefix.permute(1, 0, 2, 3, 4) + torch.matmul(probs[..., prefix_len:], value.unsqueeze(2))
    return out.reshape(batch, n_heads, suffix_len, head_dim).transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)  # masks for the ordinary passes


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


@torch.no_grad()
def run_suffixes(backbone, suffix_ids: torch.Tensor, prefix_layers: list, prefix_len: int) -> torch.Tensor:
    """Final hidden states (B x S x H) of right-padded suffixes placed after the shared prefix of
    `prefix_len` tokens (a sliding-window layer may keep fewer of its keys: positions come from here)."""
    # one row of positions for the whole batch: rotary tables are computed once, then broadcast
    positions = torch.arange(prefix_len, prefix_len + suffix_ids.shape[1], device=suffix_ids.device)
    return backbone(input_ids=suffix_ids, position_ids=positions.unsqueeze(0), use_cache=False,
                    shared_prefix=prefix_layers).last_hidden_state
