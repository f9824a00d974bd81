"""Causal-LM loss computed only where it counts.

The standard path builds logits for every position (sequence x 49k vocabulary floats per
example) and then ignores most of them. Here the decoder's hidden states are gathered at the
positions whose next token is trained, and the output head runs on those rows only, in chunks,
so the full logits tensor never exists. The result is the summed token loss; callers divide by
the number of trained tokens of the whole optimizer step, which keeps gradient accumulation and
multi-process training exact.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tunesmith.data.types import IGNORE_INDEX
from tunesmith.train.attention import PACKED_ATTENTION, segment_bounds

LOGIT_CHUNK_ROWS = 1024


def language_model_parts(model: Any) -> tuple[Any, Any]:
    """The decoder stack and the output head of a causal LM (PEFT-wrapped or not)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(base, "module", base)  # unwrap DistributedDataParallel
    return base.get_decoder(), base.get_output_embeddings()


def summed_token_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(sum of next-token cross-entropy over trained positions, number of those positions)."""
    decoder, head = language_model_parts(model)
    extra = {}
    packed = batch.get("attention_mask") is None and "position_ids" in batch
    if packed and getattr(decoder.config, "_attn_implementation", None) == PACKED_ATTENTION:
        extra["segments"] = segment_bounds(batch["position_ids"])
    # `inputs_embeds` holds the input of the first trained block when the frozen ones below it
    # are skipped (tunesmith.train.prefix); the decoder then runs the blocks above only.
    hidden = decoder(
        input_ids=batch.get("input_ids"),
        inputs_embeds=batch.get("inputs_embeds"),
        attention_mask=batch.get("attention_mask"),
        position_ids=batch.get("position_ids"),
        use_cache=False,
        **extra,
    ).last_hidden_state
    targets = batch["labels"][:, 1:]
    trained = targets != IGNORE_INDEX
    rows = hidden[:, :-1][trained]
    wanted = targets[trained]
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, rows.shape[0], LOGIT_CHUNK_ROWS):
        logits = head(rows[start : start + LOGIT_CHUNK_ROWS]).float()
        total = total + F.cross_entropy(
            logits, wanted[start : start + LOGIT_CHUNK_ROWS], reduction="sum"
        )
    return total, int(wanted.numel())
