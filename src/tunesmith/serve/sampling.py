"""Choosing the next token: greedy or sampled, with OpenAI's penalties, per sequence.

Each sequence in a batch carries its own parameters and random generator, so a request's output
does not depend on which other requests happen to share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    """How one sequence is generated (the OpenAI request parameters, validated)."""

    max_tokens: int
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def penalised(self) -> bool:
        return self.presence_penalty != 0.0 or self.frequency_penalty != 0.0


def make_generator(params: SamplingParams, choice: int, device: torch.device) -> torch.Generator:
    """A generator per sequence: a seed gives reproducible choices, each choice its own stream."""
    generator = torch.Generator(device=device)
    if params.seed is None:
        generator.seed()
    else:
        generator.manual_seed((params.seed + choice) % (2**63))
    return generator


def apply_penalties(logits: torch.Tensor, output_ids: list[int], params: SamplingParams) -> None:
    """OpenAI's presence and frequency penalties, in place, over the tokens generated so far.

    logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty
    """
    if not output_ids or not params.penalised:
        return
    ids = torch.tensor(output_ids, device=logits.device)
    tokens, counts = torch.unique(ids, return_counts=True)
    penalty = counts.to(logits.dtype) * params.frequency_penalty + params.presence_penalty
    logits[tokens] -= penalty


def sample_token(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None
) -> int:
    """One token from a row of logits (already penalised)."""
    if params.greedy:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        probs = _top_p(probs, params.top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (at least one)."""
    sorted_probs, order = probs.sort(descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the tokens ranked above each
    sorted_probs[before >= top_p] = 0.0
    kept = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return kept / kept.sum()
