"""Query likelihood: how well a language model predicts a question after a candidate text.

Ranks a run's answer notes (data/notes.py): the note after which the model finds the question
most likely tends to be the one that answers it, a signal a sentence embedding misses
(docs/specialization.md, "Ranking the notes").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# How each candidate is shown before the question: the notes' own "Q: ... / A: ..." form, then
# the start of the next exchange. The measured gains used exactly this form.
SEPARATOR = "\n\nQ:"
# Candidates scored in one forward pass; bounds the padded batch's memory.
BATCH = 16


def query_likelihood(model: Any, tokenizer: Any) -> Callable[[str, Sequence[str]], list[float]]:
    """A scorer: mean log-probability of the question's tokens after each candidate text."""

    def score(question: str, candidates: Sequence[str]) -> list[float]:
        if not question.strip():
            return [0.0] * len(candidates)
        target = tokenizer(" " + question.strip(), add_special_tokens=False)["input_ids"]
        out: list[float] = []
        for start in range(0, len(candidates), BATCH):
            chunk = candidates[start : start + BATCH]
            out += _score_batch(model, tokenizer, chunk, target)
        return out

    return score


def _score_batch(
    model: Any, tokenizer: Any, texts: Sequence[str], target: list[int]
) -> list[float]:
    import torch

    contexts = [tokenizer(t + SEPARATOR, add_special_tokens=False)["input_ids"] for t in texts]
    rows = [context + target for context in contexts]
    width = max(len(r) for r in rows)
    # Left padding puts every question at the end of its row, so the output head runs only on
    # the last len(target) + 1 positions instead of the whole batch (a 49k-token vocabulary).
    ids = torch.full((len(rows), width), tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    device = next(model.parameters()).device
    keep = len(target) + 1
    with torch.no_grad():
        logits = model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            logits_to_keep=keep,
        ).logits[:, -keep:-1]
    log_probs = logits.float().log_softmax(-1)
    wanted = torch.tensor(target, device=log_probs.device).expand(len(rows), -1)
    picked = log_probs.gather(-1, wanted[..., None])[..., 0]
    return [float(value) for value in picked.mean(-1)]
