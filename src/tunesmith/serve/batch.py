"""The running batch of one engine: its KV cache and the tensor operations on it.

Rows are left-padded so that every row's newest token sits in the last column: one decoding
step then appends one column for all rows. A row's real tokens are contiguous and
right-aligned, so joining two batches only needs padding on the left, and dropping rows can
trim the columns that have become padding for every remaining row.

Position ids are passed explicitly (the count of a row's real tokens before each token), as
`generate` does for left-padded batches, so padding never shifts a row's positions.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass
class Batch:
    """Rows being decoded together. `rows` are the engine's sequences, in row order."""

    rows: list[Any]
    cache: DynamicCache
    mask: torch.Tensor  # [B, L] 1 where the cache holds a real token, 0 for left padding
    next_ids: torch.Tensor  # [B] each row's newest token, not yet in the cache
    positions: torch.Tensor  # [B] the position id of next_ids


def cache_argument(model: Any) -> str:
    """The forward() keyword for the KV cache: `cache` in newer transformers 5.x releases."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(inner.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def prefill(
    model: Any, prompts: list[list[int]], pad_id: int, cache_key: str, extra: dict[str, Any]
) -> tuple[DynamicCache, torch.Tensor, torch.Tensor]:
    """Run the prompts (left-padded) through the model: the cache, mask and last logits."""
    device = model.device
    width = max(len(prompt) for prompt in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache()  # plain full-attention layers: they can be joined and trimmed
    output = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
        **{cache_key: cache},
        **extra,
    )
    return cache, mask, output.logits[:, -1, :].float()


def decode(model: Any, batch: Batch, cache_key: str, extra: dict[str, Any]) -> torch.Tensor:
    """One step for every row: feed each row's newest token, return the next logits."""
    ones = torch.ones((batch.mask.shape[0], 1), dtype=batch.mask.dtype, device=batch.mask.device)
    batch.mask = torch.cat([batch.mask, ones], dim=1)
    output = model(
        input_ids=batch.next_ids[:, None],
        attention_mask=batch.mask,
        position_ids=batch.positions[:, None],
        use_cache=True,
        logits_to_keep=1,
        **{cache_key: batch.cache},
        **extra,
    )
    batch.positions = batch.positions + 1
    return output.logits[:, -1, :].float()


def joinable(cache: DynamicCache) -> bool:
    """Only plain dynamic layers can be padded and concatenated (not sliding windows)."""
    return all(type(layer) is DynamicLayer and layer.is_initialized for layer in cache.layers)


def join(first: Batch, second: Batch) -> Batch:
    """One batch holding the rows of both, left-padded to the longer cache."""
    length = max(first.mask.shape[1], second.mask.shape[1])
    for a, b in zip(first.cache.layers, second.cache.layers, strict=True):
        a.keys = torch.cat([_pad_left(a.keys, length, 2), _pad_left(b.keys, length, 2)])
        a.values = torch.cat([_pad_left(a.values, length, 2), _pad_left(b.values, length, 2)])
    return Batch(
        rows=first.rows + second.rows,
        cache=first.cache,
        mask=torch.cat([_pad_left(first.mask, length, 1), _pad_left(second.mask, length, 1)]),
        next_ids=torch.cat([first.next_ids, second.next_ids]),
        positions=torch.cat([first.positions, second.positions]),
    )


def select(batch: Batch, keep: list[int]) -> Batch:
    """Only the rows at `keep`, with columns that are padding for all of them trimmed."""
    index = torch.tensor(keep, dtype=torch.long, device=batch.mask.device)
    mask = batch.mask.index_select(0, index)
    used = mask.any(dim=0).nonzero()
    start = int(used[0]) if len(used) else mask.shape[1]
    for layer in batch.cache.layers:
        layer.keys = layer.keys.index_select(0, index)[:, :, start:, :]
        layer.values = layer.values.index_select(0, index)[:, :, start:, :]
    return Batch(
        rows=[batch.rows[i] for i in keep],
        cache=batch.cache,
        mask=mask[:, start:],
        next_ids=batch.next_ids.index_select(0, index),
        positions=batch.positions.index_select(0, index),
    )


def _pad_left(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
