"""Checks of the Northpeak Outfitters sample dataset in examples/northpeak/.

Standard library and PyYAML only: the dataset must stay usable without tunesmith.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parents[2] / "examples" / "northpeak"
ROLES = {"system", "user", "assistant"}
MAX_JACCARD = 0.5


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def facts() -> list[dict]:
    return yaml.safe_load((DATA / "facts.yaml").read_text(encoding="utf-8"))["facts"]


@pytest.fixture(scope="module")
def glossary() -> dict:
    return yaml.safe_load((DATA / "glossary.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return _read_jsonl(DATA / "train.jsonl")


@pytest.fixture(scope="module")
def evals() -> list[dict]:
    return _read_jsonl(DATA / "eval.jsonl")


@pytest.fixture(scope="module")
def assistant_answers(train: list[dict]) -> list[str]:
    return [m["content"] for r in train for m in r["messages"] if m["role"] == "assistant"]


@pytest.fixture(scope="module")
def user_turns(train: list[dict]) -> list[str]:
    return [m["content"] for r in train for m in r["messages"] if m["role"] == "user"]


def _words(text: str) -> list[str]:
    table = str.maketrans(string.punctuation, " " * len(string.punctuation))
    return text.lower().translate(table).split()


def _trigrams(text: str) -> set[tuple[str, ...]]:
    w = _words(text)
    return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _term(term: str) -> re.Pattern[str]:
    return re.compile(r"\b" + re.escape(term) + r"\b", re.IGNORECASE)


def _is_multi_turn(record: dict) -> bool:
    return sum(m["role"] == "user" for m in record["messages"]) > 1


# ------------------------------------------------------------------------------------ facts


def test_facts_file_holds_about_sixty_facts(facts: list[dict]) -> None:
    assert 50 <= len(facts) <= 70


def test_every_fact_has_id_topic_statement_and_key_facts(facts: list[dict]) -> None:
    for fact in facts:
        assert isinstance(fact["id"], str) and fact["id"], fact
        assert isinstance(fact["topic"], str) and fact["topic"], fact
        assert isinstance(fact["statement"], str) and fact["statement"], fact
        assert fact["key_facts"] and all(isinstance(k, str) and k for k in fact["key_facts"]), fact


def test_fact_ids_are_unique(facts: list[dict]) -> None:
    ids = [f["id"] for f in facts]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------------ glossary


def test_glossary_defines_sign_off_preferred_terms_and_banned_terms(glossary: dict) -> None:
    assert isinstance(glossary["sign_off"], str) and glossary["sign_off"].strip()
    assert glossary["banned"] and all(isinstance(t, str) for t in glossary["banned"])
    for entry in glossary["preferred"]:
        assert entry["term"] and entry["instead_of"], entry


# ------------------------------------------------------------------------------------ train


def test_train_has_at_least_300_conversations(train: list[dict]) -> None:
    assert len(train) >= 300


def test_every_train_line_is_valid_openai_chat(train: list[dict]) -> None:
    for i, record in enumerate(train):
        messages = record["messages"]
        assert set(record) == {"messages"}, i
        roles = [m["role"] for m in messages]
        assert set(roles) <= ROLES, (i, roles)
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages), i
        assert "system" not in roles[1:], (i, roles)
        turns = roles[1:] if roles[0] == "system" else roles
        assert turns[0::2] == ["user"] * len(turns[0::2]), (i, roles)
        assert turns[1::2] == ["assistant"] * len(turns[1::2]), (i, roles)
        assert turns[-1] == "assistant", (i, roles)


def test_about_a_fifth_of_training_conversations_are_multi_turn(train: list[dict]) -> None:
    share = sum(_is_multi_turn(r) for r in train) / len(train)
    assert 0.15 <= share <= 0.3, share


def test_multi_turn_conversations_have_at_most_three_user_turns(train: list[dict]) -> None:
    for record in train:
        assert sum(m["role"] == "user" for m in record["messages"]) <= 3, record


def test_about_two_fifths_of_training_conversations_have_a_system_prompt(
    train: list[dict],
) -> None:
    share = sum(r["messages"][0]["role"] == "system" for r in train) / len(train)
    assert 0.3 <= share <= 0.5, share


def test_every_assistant_answer_ends_with_the_sign_off(
    assistant_answers: list[str], glossary: dict
) -> None:
    bad = [a for a in assistant_answers if not a.endswith(glossary["sign_off"])]
    assert not bad, bad[:3]


def test_no_assistant_answer_uses_a_banned_term(
    assistant_answers: list[str], glossary: dict
) -> None:
    patterns = [_term(t) for t in glossary["banned"]]
    bad = [(p.pattern, a) for a in assistant_answers for p in patterns if p.search(a)]
    assert not bad, bad[:3]


def test_no_assistant_answer_uses_a_term_the_glossary_replaces(
    assistant_answers: list[str], glossary: dict
) -> None:
    patterns = [_term(t) for entry in glossary["preferred"] for t in entry["instead_of"]]
    bad = [(p.pattern, a) for a in assistant_answers for p in patterns if p.search(a)]
    assert not bad, bad[:3]


def test_every_key_fact_appears_in_at_least_three_training_answers(
    facts: list[dict], assistant_answers: list[str]
) -> None:
    lowered = [a.lower() for a in assistant_answers]
    for fact in facts:
        for key in fact["key_facts"]:
            count = sum(key.lower() in a for a in lowered)
            assert count >= 3, (fact["id"], key, count)


# ------------------------------------------------------------------------------------ eval


def test_eval_has_at_least_80_in_scope_and_15_out_of_scope_items(evals: list[dict]) -> None:
    in_scope = [e for e in evals if not e["out_of_scope"]]
    assert len(in_scope) >= 80
    assert len(evals) - len(in_scope) >= 15


def test_every_eval_item_has_the_documented_fields(evals: list[dict]) -> None:
    fields = {"id", "question", "reference", "key_facts", "fact_ids", "out_of_scope"}
    for item in evals:
        assert set(item) == fields, item
        assert isinstance(item["out_of_scope"], bool), item
        assert isinstance(item["key_facts"], list) and isinstance(item["fact_ids"], list), item
        assert item["question"].strip() and item["reference"].strip(), item


def test_eval_ids_are_unique(evals: list[dict]) -> None:
    ids = [e["id"] for e in evals]
    assert len(ids) == len(set(ids))


def test_every_eval_key_fact_is_in_its_reference(evals: list[dict]) -> None:
    for item in evals:
        for key in item["key_facts"]:
            assert key.lower() in item["reference"].lower(), (item["id"], key)


def test_in_scope_eval_items_point_at_known_facts_and_their_key_facts(
    evals: list[dict], facts: list[dict]
) -> None:
    by_id = {f["id"]: f for f in facts}
    for item in (e for e in evals if not e["out_of_scope"]):
        assert item["fact_ids"] and item["key_facts"], item["id"]
        assert set(item["fact_ids"]) <= set(by_id), item["id"]
        allowed = {k for fid in item["fact_ids"] for k in by_id[fid]["key_facts"]}
        assert set(item["key_facts"]) <= allowed, item["id"]


def test_out_of_scope_eval_items_have_no_key_facts_or_fact_ids(evals: list[dict]) -> None:
    for item in (e for e in evals if e["out_of_scope"]):
        assert item["key_facts"] == [] and item["fact_ids"] == [], item["id"]


def test_every_fact_is_asked_about_in_eval(evals: list[dict], facts: list[dict]) -> None:
    asked = {fid for e in evals for fid in e["fact_ids"]}
    assert {f["id"] for f in facts} <= asked


def test_every_eval_reference_ends_with_the_sign_off(evals: list[dict], glossary: dict) -> None:
    bad = [e["id"] for e in evals if not e["reference"].endswith(glossary["sign_off"])]
    assert not bad, bad


def test_no_eval_reference_uses_a_banned_term(evals: list[dict], glossary: dict) -> None:
    patterns = [_term(t) for t in glossary["banned"]]
    bad = [(p.pattern, e["id"]) for e in evals for p in patterns if p.search(e["reference"])]
    assert not bad, bad


# ------------------------------------------------------------------------------------ leakage


def test_no_eval_question_repeats_a_training_user_turn(
    evals: list[dict], user_turns: list[str]
) -> None:
    seen = {" ".join(_words(t)) for t in user_turns}
    repeated = [e["question"] for e in evals if " ".join(_words(e["question"])) in seen]
    assert not repeated, repeated


def test_no_eval_question_is_a_near_duplicate_of_a_training_user_turn(
    evals: list[dict], user_turns: list[str]
) -> None:
    train_grams = [(t, _trigrams(t)) for t in user_turns]
    worst = (0.0, "", "")
    for item in evals:
        grams = _trigrams(item["question"])
        for turn, tg in train_grams:
            score = _jaccard(grams, tg)
            if score > worst[0]:
                worst = (score, item["question"], turn)
    assert worst[0] < MAX_JACCARD, worst


# ------------------------------------------------------------------------------------ generator


def test_build_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    script = DATA / "build_dataset.py"
    subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in ("facts.yaml", "glossary.yaml", "train.jsonl", "eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
