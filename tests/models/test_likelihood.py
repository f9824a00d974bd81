"""Query likelihood: the mean log-probability of a question after each candidate text."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunesmith.models import load_model
from tunesmith.models.likelihood import SEPARATOR, query_likelihood

QUESTION = "How long is the return window?"
NOTES = [
    "Q: Can I bring gear back?\nA: Members can return gear within 60 days.",
    "Q: Shipping?\nA: $4.95.",
    "Q: When are you open on Sundays?\nA: Basecamps open 10am to 5pm on Sundays, and on "
    "public holidays from noon; the cafe at the Boulder basecamp keeps the same hours.",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    loaded = load_model(str(tiny_model_dir))
    loaded.model.eval()
    return loaded.model, loaded.tokenizer


def _alone(model, tokenizer, note: str, question: str) -> float:
    """The same quantity, one unpadded sequence at a time, from the full logits."""
    context = tokenizer(note + SEPARATOR, add_special_tokens=False)["input_ids"]
    target = tokenizer(" " + question, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + target])
    with torch.no_grad():
        log_probs = model(input_ids=ids).logits.float().log_softmax(-1)[0]
    picked = [log_probs[len(context) + i - 1, t] for i, t in enumerate(target)]
    return float(torch.stack(picked).mean())


def test_batched_scores_equal_each_note_scored_alone(tiny) -> None:
    model, tokenizer = tiny
    scores = query_likelihood(model, tokenizer)(QUESTION, NOTES)
    expected = [_alone(model, tokenizer, note, QUESTION) for note in NOTES]
    assert scores == pytest.approx(expected, abs=1e-4)


def test_scores_do_not_depend_on_the_batch_they_are_computed_in(tiny, monkeypatch) -> None:
    model, tokenizer = tiny
    together = query_likelihood(model, tokenizer)(QUESTION, NOTES)
    monkeypatch.setattr("tunesmith.models.likelihood.BATCH", 1)
    assert query_likelihood(model, tokenizer)(QUESTION, NOTES) == pytest.approx(together, abs=1e-4)


def test_an_empty_question_scores_every_note_equally(tiny) -> None:
    model, tokenizer = tiny
    assert query_likelihood(model, tokenizer)("  ", NOTES) == [0.0, 0.0, 0.0]
