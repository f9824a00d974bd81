"""Causal-LM loss computed only where it counts.

The standard path builds logits for every position (sequence x 49k vocabulary floats per
example) and then ignores most of them. Here the decoder's hidden states are gathered at the
positions whose next token is trained, and the output head runs on those rows only, in chunks,
so the full logits tensor never exists. The result is the summed token loss; callers divide by
the number of trained tokens of the whole optimizer step, which keeps gradient accumulation and
multi-process training exact.

Positions with soft targets (self-replay, `tunesmith.train.replay`) score the KL divergence
from the given distribution instead of the cross-entropy of their label, and count as trained
tokens like any other.
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
    count = int(trained.sum())
    total = hidden.new_zeros((), dtype=torch.float32)
    soft_index = batch.get("soft_index")
    if soft_index is not None:
        positions = targets.shape[1]
        soft_rows = hidden[soft_index // positions, soft_index % positions]
        for start in range(0, soft_rows.shape[0], LOGIT_CHUNK_ROWS):
            part = slice(start, start + LOGIT_CHUNK_ROWS)
            total = total + kl_from_top_k(
                head(soft_rows[part]), batch["soft_ids"][part], batch["soft_probs"][part]
            )
        trained = trained.reshape(-1).clone()
        trained[soft_index] = False
        trained = trained.view_as(targets)
    rows = hidden[:, :-1][trained]
    wanted = targets[trained]
    for start in range(0, rows.shape[0], LOGIT_CHUNK_ROWS):
        logits = head(rows[start : start + LOGIT_CHUNK_ROWS]).float()
        total = total + F.cross_entropy(
            logits, wanted[start : start + LOGIT_CHUNK_ROWS], reduction="sum"
        )
    return total, count


def kl_from_top_k(logits: torch.Tensor, ids: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Summed KL(target || model) over rows; the target is `probs` on `ids` plus the rest.

    The probability the top-k tokens leave is one more outcome on both sides, so the sum is a
    true KL divergence (zero only where the model matches the target on the k tokens and the
    rest), not a cross-entropy that would push all mass onto the k.
    """
    log_model = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.long())
    probs = probs.float()
    tail = (1.0 - probs.sum(-1)).clamp_min(0.0)
    # log(1 - sum q_k), kept finite when the model puts (almost) everything on the k.
    tail_model = torch.log1p(-log_model.exp().sum(-1).clamp(max=1.0 - 1e-6))
    top = probs * (probs.clamp_min(1e-12).log() - log_model)
    return top.sum() + (tail * (tail.clamp_min(1e-12).log() - tail_model)).sum()


def soft_target_batch(
    items: list[Any], layout: list[list[int]], width: int
) -> dict[str, torch.Tensor]:
    """The items' soft targets as batch entries: `soft_index` into the [rows, width - 1] grid of
    predicting positions, `soft_ids` and `soft_probs` [n, k]; nothing when no item has any."""
    index, ids, probs = [], [], []
    for row, members in enumerate(layout):
        offset = 0
        for member in members:
            item = items[member]
            soft = item.soft_targets
            if soft is not None and soft.ids.shape[0] != len(item.input_ids) - 1:
                raise ValueError(
                    f"{len(item.input_ids)} tokens with {soft.ids.shape[0]} soft targets: "
                    "there must be one per token after the first"
                )
            if soft is not None and soft.ids.shape[0]:
                # Row j of the targets is the token at j + 1, predicted at position j.
                start = row * (width - 1) + offset
                index.append(torch.arange(start, start + soft.ids.shape[0]))
                ids.append(soft.ids)
                probs.append(soft.probs)
            offset += len(item.input_ids)
    if not index:
        return {}
    return {
        "soft_index": torch.cat(index),
        "soft_ids": torch.cat(ids),
        "soft_probs": torch.cat(probs),
    }
