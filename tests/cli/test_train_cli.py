"""What `tunesmith train` prints about the answer notes."""

from __future__ import annotations

from tunesmith.cli.train import notes_line, replay_line


def test_the_notes_line_names_the_switch_and_no_guard_without_redirects() -> None:
    line = notes_line({"notes": 40, "count": 2, "scope_guard": None})
    assert "40 training answers, up to 2 shown" in line and "data.notes.enabled=false" in line
    assert "scope guard" not in line


def test_the_notes_line_says_the_retriever_was_tuned_and_how_to_turn_it_off() -> None:
    line = notes_line({"notes": 40, "count": 4, "scope_guard": None, "retriever_epochs": 1})
    assert "tuned (1 pass)" in line and "data.notes.retriever_epochs=0" in line
    assert "retriever" not in notes_line({"notes": 40, "count": 4, "retriever_epochs": 0})


def test_the_notes_line_says_training_notes_come_in_answer_order_and_how_to_change_it() -> None:
    line = notes_line({"notes": 40, "count": 4, "train_order": "answer"})
    assert "own answer first" in line and "data.notes.train_order=question" in line
    assert "train_order" not in notes_line({"notes": 40, "count": 4, "train_order": "question"})


def test_the_notes_line_says_what_the_scope_guard_holds_and_how_to_turn_it_off() -> None:
    guard = {"answered_questions": 402, "declined_questions": 24, "general_questions": 92}
    line = notes_line({"notes": 426, "count": 4, "scope_guard": guard})
    assert "24 declined questions or 92 general ones" in line
    assert "data.notes.scope_guard=false" in line


def test_the_replay_line_says_what_is_learnt_and_how_to_turn_it_off() -> None:
    report = {"samples": 85, "tokens": 9746, "share": 0.2, "targets": "distribution", "top_k": 64}
    line = replay_line(report)
    assert "85 samples" in line and "9,746 tokens" in line and "20% of examples" in line
    assert "top-64 next-token probabilities" in line
    assert "train.replay.share=0" in line
    assert "sampled tokens" in replay_line({**report, "targets": "tokens", "top_k": None})
