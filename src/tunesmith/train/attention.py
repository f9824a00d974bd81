"""Attention over packed rows, one example at a time.

A packed row holds several examples back to back. transformers handles that by building a
block-diagonal causal mask over the whole row and running one masked attention over it, which
costs row_length^2 per layer although only the blocks on the diagonal count. On CPU the masked
kernel is also the slow path: measured on the default model (8 Northpeak examples, one row of
790 tokens, bf16, 2 cores), the masked attention backward took 0.62 s of a 2.4 s LoRA step.

Here each example's queries attend to its own keys with the plain causal kernel, so the work is
the sum of example_length^2 and no mask is built or read. transformers has no CPU varlen kernel
(its varlen path needs flash-attention on a GPU), hence this small function; it plugs in
through transformers' own `AttentionInterface`, and every call without segment bounds (padded
batches, generation) goes to the standard SDPA function unchanged.

On a GPU the trade is the other way round: the per-example loop launches a few small kernels
per example, layer and row. Profiled on an H200 (SmolLM2-135M shape, full fine-tuning, 8
Northpeak examples per step): about 17,000 kernel launches per step, 45 ms of GPU work in
steps of 0.28-0.31 s, so the step was bound by launching, and the transformers Trainer with
its padded batches was 1.6x faster. There the block-diagonal mask goes to one fused SDPA kernel
per layer, so models on a GPU keep transformers' masked attention.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers.integrations.sdpa_attention import sdpa_attention_forward

PACKED_ATTENTION = "tunesmith_packed_sdpa"
# PyTorch's CPU flash kernel first: it never materialises the length x length scores, so its
# cost stays near-linear in the example length where the math kernel's grows with its square
# (fwd+bwd of one 650-token example, 9 heads, bf16, 2 cores: 11.5 ms flash vs 28.3 ms math).
# The math kernel stays as the fallback for inputs the flash kernel refuses.
EXAMPLE_KERNELS = [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]
Segments = list[list[tuple[int, int]]]


def segment_bounds(position_ids: torch.Tensor) -> Segments:
    """(start, end) of each example in each row: a new example starts where positions restart."""
    bounds: Segments = []
    for row in position_ids.tolist():
        starts = [i for i, p in enumerate(row) if i == 0 or p != row[i - 1] + 1]
        bounds.append(list(zip(starts, [*starts[1:], len(row)], strict=True)))
    return bounds


def packed_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    segments: Segments | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention per example when `segments` is given; standard SDPA otherwise."""
    if segments is None or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    rows = []
    with sdpa_kernel(EXAMPLE_KERNELS):
        for row, bounds in enumerate(segments):
            parts = [
                sdpa_attention_forward(
                    module,
                    query[row : row + 1, :, start:end],
                    key[row : row + 1, :, start:end],
                    value[row : row + 1, :, start:end],
                    None,
                    dropout=dropout,
                    scaling=scaling,
                    is_causal=True,
                )[0]
                for start, end in bounds
            ]
            rows.append(torch.cat(parts, dim=1))
    return torch.cat(rows, dim=0), None


def register_packed_attention() -> None:
    """Make PACKED_ATTENTION known to transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(PACKED_ATTENTION, packed_sdpa)
    AttentionMaskInterface.register(PACKED_ATTENTION, sdpa_mask)


@contextlib.contextmanager
def packed_attention(model: Any) -> Iterator[bool]:
    """Use per-example attention for packed rows while training; yields whether it is active.

    Only models running transformers' SDPA attention on the CPU switch (see the module notes
    for GPUs); the previous implementation is restored on exit so saved configs and later
    generation are unchanged.
    """
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if previous != "sdpa" or not hasattr(model, "set_attn_implementation") or _off_cpu(model):
        yield False
        return
    register_packed_attention()
    model.set_attn_implementation(PACKED_ATTENTION)
    try:
        yield True
    finally:
        model.set_attn_implementation(previous)


def _off_cpu(model: Any) -> bool:
    parameter = next(model.parameters(), None)
    return parameter is not None and parameter.device.type != "cpu"
