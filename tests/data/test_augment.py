"""Augmentation adds question forms and statements; it never changes a fact or leaks eval."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tunesmith.data.augment import KINDS, augment_examples, common_sign_off
from tunesmith.data.dedup import DuplicateIndex, user_texts
from tunesmith.data.readers import read_examples
from tunesmith.data.types import Conversation, Document, Message
from tunesmith.eval.metrics import facts_found

NORTHPEAK = Path(__file__).resolve().parents[2] / "examples" / "northpeak"


@pytest.fixture(scope="module")
def northpeak() -> tuple[list, list[str], list[str]]:
    train = read_examples(NORTHPEAK / "train.jsonl")
    eval_questions = [t for e in read_examples(NORTHPEAK / "eval.jsonl") for t in user_texts(e)]
    facts = yaml.safe_load((NORTHPEAK / "facts.yaml").read_text())["facts"]
    key_facts = [fact for entry in facts for fact in entry["key_facts"]]
    return train, eval_questions, key_facts


def _chat(question: str, answer: str, system: str | None = None, line: int = 1) -> Conversation:
    messages = [Message("user", question), Message("assistant", answer)]
    if system:
        messages.insert(0, Message("system", system))
    return Conversation(tuple(messages), source="t.jsonl", line=line)


def _variant_text(variant: Conversation | Document) -> str:
    return variant.text if isinstance(variant, Document) else variant.messages[-1].content


def _by_source(examples, variants):
    """Each variant with the source conversation it was made from (same line number)."""
    sources = {e.line: e for e in examples}
    return [(sources[v.line], v) for v in variants]


def test_every_key_fact_of_an_answer_survives_in_each_variant(northpeak) -> None:
    train, eval_questions, key_facts = northpeak
    augmented, report = augment_examples(train, seed=0, eval_questions=eval_questions)
    variants = augmented[len(train) :]
    assert len(variants) == report.to_dict()["added_total"] > 2 * len(train)
    checked = 0
    for source, variant in _by_source(train, variants):
        facts = [f for f, ok in zip(key_facts, facts_found(source.messages[-1].content, key_facts),
                                    strict=True) if ok]  # fmt: skip
        assert all(facts_found(_variant_text(variant), facts)), (source, variant)
        checked += len(facts)
    assert checked > 500  # the check ran over real facts, not over empty lists


def test_no_generated_question_matches_an_evaluation_question(northpeak) -> None:
    train, eval_questions, _ = northpeak
    augmented, _ = augment_examples(train, seed=0, eval_questions=eval_questions)
    index = DuplicateIndex()
    for number, question in enumerate(eval_questions):
        index.add(question, number)
    generated = [t for e in augmented[len(train) :] for t in user_texts(e)]
    assert generated and all(index.query(text) is None for text in generated)


def test_variants_of_a_question_that_is_also_an_eval_question_are_dropped() -> None:
    leaked = _chat("How many days do I have to return unused gear?", "60 days.\n\n— Bye")
    other = _chat("What does express shipping cost?", "$14.50.\n\n— Bye")
    augmented, report = augment_examples(
        [leaked, other], seed=0, eval_questions=[leaked.messages[0].content]
    )
    assert report.dropped_eval_overlap >= 2  # its surface form and follow-up variants
    questions = [t for e in augmented[2:] for t in user_texts(e)]
    assert not any("return unused gear" in q.lower() for q in questions)


def test_answers_are_copied_verbatim_and_earlier_turns_are_not_trained() -> None:
    chats = [
        _chat(f"Question {i}?", f"Answer {i} is $1{i}.\n\n— Bye", "Be kind.", i) for i in range(4)
    ]
    augmented, _ = augment_examples(chats, seed=1)
    for source, variant in _by_source(chats, augmented[4:]):
        if isinstance(variant, Conversation):
            trained = [m for m in variant.messages if m.role == "assistant" and m.weight]
            assert trained == [source.messages[-1]]
        else:
            assert variant.text == source.messages[-1].content.removesuffix("\n\n— Bye")


def test_report_counts_each_kind_and_the_sign_off() -> None:
    chats = [_chat(f"Question {i}?", f"Answer {i}.\n\n— Bye", "Be kind.") for i in range(3)]
    augmented, report = augment_examples(chats, seed=0)
    summary = report.to_dict()
    assert set(summary["added"]) == set(KINDS)
    assert summary["added_total"] == len(augmented) - 3 == 12
    assert summary["sign_off"] == "— Bye"


def test_system_variant_adds_the_common_prompt_or_removes_it() -> None:
    with_prompt = _chat("A?", "a", "Be kind.")
    without = _chat("B?", "b")
    augmented, _ = augment_examples([with_prompt, without], seed=0)
    systems = [v for v in augmented[2:] if v.source.endswith("#system")]
    assert [m.role for m in systems[0].messages] == ["user", "assistant"]
    assert systems[1].messages[0] == Message("system", "Be kind.")


def test_sign_off_needs_most_answers_to_share_it() -> None:
    assert common_sign_off(["a\n\nBye", "b\n\nBye", "c\n\nCiao"]) == "Bye"
    assert common_sign_off(["a\n\nBye", "b\n\nCiao", "c"]) is None
    assert common_sign_off(["single line", "another"]) is None


def test_augmentation_is_deterministic_for_a_seed(northpeak) -> None:
    train, eval_questions, _ = northpeak
    first, _ = augment_examples(train[:30], seed=3, eval_questions=eval_questions)
    second, _ = augment_examples(train[:30], seed=3, eval_questions=eval_questions)
    assert first == second
