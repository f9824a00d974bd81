"""Log-likelihood scoring: pairs scored the lm-eval way, and the notes' query likelihood."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.conftest import hand_log_likelihood

from tunesmith.models import load_model
from tunesmith.models.scoring import QUERY_SEPARATOR, encode_pair, query_likelihood, score_pairs

CONTEXT = "Question: What color is a clear daytime sky?\nAnswer:"
CHOICES = [" blue", " green", " a very loud trumpet", " 42"]
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
    return loaded


# --- pairs -------------------------------------------------------------------------------------


def test_choice_scores_equal_a_hand_computed_log_likelihood(tiny):
    scores = score_pairs(tiny.model, tiny.tokenizer, [(CONTEXT, c) for c in CHOICES])
    for choice, score in zip(CHOICES, scores, strict=True):
        expected = hand_log_likelihood(tiny.model, tiny.tokenizer, CONTEXT, choice)
        assert score.logprob == pytest.approx(expected, abs=1e-5)


def test_batched_scores_equal_one_pair_at_a_time(tiny):
    pairs = [(f"Item {i}: " + "word " * (i % 7), f"answer number {i}") for i in range(20)]
    batched = score_pairs(tiny.model, tiny.tokenizer, pairs, batch_size=8, share_context=False)
    single = score_pairs(tiny.model, tiny.tokenizer, pairs, batch_size=1, share_context=False)
    for one, other in zip(batched, single, strict=True):
        assert one.logprob == pytest.approx(other.logprob, abs=1e-5)
        assert one.greedy == other.greedy


def test_choices_sharing_a_context_score_as_separate_rows(tiny):
    pairs = [(f"Question {q}: which?\nAnswer:", c) for q in range(3) for c in CHOICES]
    shared = score_pairs(tiny.model, tiny.tokenizer, pairs, share_context=True)
    separate = score_pairs(tiny.model, tiny.tokenizer, pairs, share_context=False)
    for one, other in zip(shared, separate, strict=True):
        assert one.logprob == pytest.approx(other.logprob, abs=1e-5)


def test_trailing_space_of_the_context_moves_to_the_continuation(tiny):
    moved = encode_pair(tiny.tokenizer, "Answer: ", "Paris")
    assert moved == encode_pair(tiny.tokenizer, "Answer:", " Paris")
    assert tiny.tokenizer.decode(moved[1]) == " Paris"


def test_empty_context_starts_from_the_prefix_token(tiny):
    context, continuation = encode_pair(tiny.tokenizer, "", "Hello there")
    assert context == [tiny.tokenizer.bos_token_id]
    assert tiny.tokenizer.decode(continuation) == "Hello there"


def test_scoring_a_peft_model_matches_its_base_when_lora_is_zero(tiny):
    from peft import LoraConfig, get_peft_model

    pairs = [(CONTEXT, c) for c in CHOICES]
    base = score_pairs(tiny.model, tiny.tokenizer, pairs)
    wrapped = get_peft_model(
        tiny.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    try:
        tuned = score_pairs(wrapped, tiny.tokenizer, pairs)
    finally:
        wrapped.unload()  # give the shared module fixture its plain model back
    assert [s.logprob for s in tuned] == pytest.approx([s.logprob for s in base], abs=1e-5)


def test_a_bfloat16_model_scores_close_to_its_float32_self(tiny, tiny_model_dir):
    pairs = [(CONTEXT, c) for c in CHOICES]
    half = load_model(str(tiny_model_dir)).model.to(torch.bfloat16)
    full = [s.logprob for s in score_pairs(tiny.model, tiny.tokenizer, pairs)]
    low = [s.logprob for s in score_pairs(half, tiny.tokenizer, pairs)]
    assert low == pytest.approx(full, rel=2e-2)


def test_scoring_restores_the_training_mode(tiny):
    tiny.model.train()
    try:
        score_pairs(tiny.model, tiny.tokenizer, [(CONTEXT, " blue")])
        assert tiny.model.training
    finally:
        tiny.model.eval()


# --- query likelihood --------------------------------------------------------------------------


def _alone(model, tokenizer, note: str, question: str) -> float:
    """The same quantity, one unpadded sequence at a time, from the full logits."""
    context = tokenizer(note + QUERY_SEPARATOR, add_special_tokens=False)["input_ids"]
    target = tokenizer(" " + question, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context + target])
    with torch.no_grad():
        log_probs = model(input_ids=ids).logits.float().log_softmax(-1)[0]
    picked = [log_probs[len(context) + i - 1, t] for i, t in enumerate(target)]
    return float(torch.stack(picked).mean())


def test_batched_scores_equal_each_note_scored_alone(tiny) -> None:
    model, tokenizer = tiny.model, tiny.tokenizer
    scores = query_likelihood(model, tokenizer)(QUESTION, NOTES)
    expected = [_alone(model, tokenizer, note, QUESTION) for note in NOTES]
    assert scores == pytest.approx(expected, abs=1e-4)


def test_scores_do_not_depend_on_the_batch_they_are_computed_in(tiny, monkeypatch) -> None:
    model, tokenizer = tiny.model, tiny.tokenizer
    together = query_likelihood(model, tokenizer)(QUESTION, NOTES)
    monkeypatch.setattr("tunesmith.models.scoring.QUERY_BATCH", 1)
    assert query_likelihood(model, tokenizer)(QUESTION, NOTES) == pytest.approx(together, abs=1e-4)


def test_an_empty_question_scores_every_note_equally(tiny) -> None:
    model, tokenizer = tiny.model, tiny.tokenizer
    assert query_likelihood(model, tokenizer)("  ", NOTES) == [0.0, 0.0, 0.0]
