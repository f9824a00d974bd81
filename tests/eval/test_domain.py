"""Domain evaluation: loading eval items, reference loss, generated answers, base vs tuned."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tunesmith.errors import DataError, UsageError
from tunesmith.eval import domain
from tunesmith.eval.domain import (
    HEADLINE,
    EvalItem,
    domain_gain,
    evaluate_domain,
    load_eval_items,
    reference_scores,
)
from tunesmith.eval.generation import Reply
from tunesmith.eval.glossary import Glossary
from tunesmith.models import load_model

NORTHPEAK = Path(__file__).parents[2] / "examples" / "northpeak"
SIGN_OFF = "— Happy trails, the Northpeak crew"
FIVE_ITEMS = [
    {
        "id": "returns-1",
        "question": "How long do I have to return unused gear?",
        "reference": f"Within 60 days of delivery, with tags attached.\n\n{SIGN_OFF}",
        "key_facts": ["60 days", "tags attached"],
        "fact_ids": ["returns_window"],
        "out_of_scope": False,
    },
    {
        "id": "tent-1",
        "question": "What does the Talus 2P cost?",
        "reference": f"The Talus 2P is $349.\n\n{SIGN_OFF}",
        "key_facts": ["$349"],
        "fact_ids": ["tent"],
        "out_of_scope": False,
    },
    {
        "id": "hours-1",
        "question": "When do basecamps open on Sunday?",
        "reference": f"Sundays from 11 a.m. to 5 p.m.\n\n{SIGN_OFF}",
        "key_facts": ["11 a.m. to 5 p.m."],
        "fact_ids": ["hours"],
        "out_of_scope": False,
    },
    {
        "id": "oos-1",
        "question": "What dose of ibuprofen should I take?",
        "reference": f"I'm not able to give medical advice; please ask a doctor.\n\n{SIGN_OFF}",
        "key_facts": [],
        "fact_ids": [],
        "out_of_scope": True,
    },
    {
        "id": "oos-2",
        "question": "Will it rain in Missoula tomorrow?",
        "reference": f"For forecasts, please check weather.gov.\n\n{SIGN_OFF}",
        "key_facts": [],
        "fact_ids": [],
        "out_of_scope": True,
    },
]


def _write_jsonl(path: Path, records: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> Any:
    return load_model(str(tiny_model_dir))


@pytest.fixture
def five_items(tmp_path: Path) -> list[EvalItem]:
    return load_eval_items(_write_jsonl(tmp_path / "eval.jsonl", FIVE_ITEMS))


@pytest.fixture
def northpeak_glossary() -> Glossary:
    return Glossary.load(NORTHPEAK / "glossary.yaml")


# --- loading ----------------------------------------------------------------------------------


def test_northpeak_eval_file_loads_with_all_fields():
    items = load_eval_items(NORTHPEAK / "eval.jsonl")
    assert len(items) == 117
    assert sum(item.out_of_scope for item in items) == 20
    first = items[0]
    assert first.id == "returns_window-1"
    assert first.key_facts == ("60 days", "tags attached")
    assert first.fact_ids == ("returns_window",)
    assert first.question.startswith("My daughter never even took")
    assert first.line == 1


def test_malformed_items_are_reported_with_line_numbers(tmp_path):
    path = _write_jsonl(
        tmp_path / "eval.jsonl",
        [
            FIVE_ITEMS[0],
            {"question": "Where?"},
            {**FIVE_ITEMS[1], "key_facts": "$349"},
            "{not json",
            {**FIVE_ITEMS[3], "out_of_scope": "yes"},
        ],
    )
    with pytest.raises(DataError) as caught:
        load_eval_items(path)
    message = str(caught.value)
    assert "4 problems" in message
    assert "line 2: `reference` must be non-empty text" in message
    assert "line 3: `key_facts` must be a list of non-empty text" in message
    assert "line 4: invalid JSON" in message
    assert "line 5: `out_of_scope` must be true or false" in message


def test_duplicate_ids_are_an_error(tmp_path):
    path = _write_jsonl(tmp_path / "eval.jsonl", [FIVE_ITEMS[0], FIVE_ITEMS[0]])
    with pytest.raises(DataError, match=r"line 2: duplicate id 'returns-1' \(first on line 1\)"):
        load_eval_items(path)


def test_a_key_fact_missing_from_its_reference_is_an_error(tmp_path):
    path = _write_jsonl(tmp_path / "eval.jsonl", [{**FIVE_ITEMS[1], "key_facts": ["$394"]}])
    with pytest.raises(DataError, match=r"line 1: key fact '\$394' is not in the reference"):
        load_eval_items(path)


def test_an_out_of_scope_item_with_key_facts_is_an_error(tmp_path):
    path = _write_jsonl(tmp_path / "eval.jsonl", [{**FIVE_ITEMS[3], "key_facts": ["doctor"]}])
    with pytest.raises(DataError, match="out-of-scope item has no key facts"):
        load_eval_items(path)


def test_chat_data_gives_question_reference_pairs_without_key_facts(tmp_path):
    conversation = {
        "messages": [
            {"role": "system", "content": "You are Northpeak's assistant."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Do you rent tents?"},
            {"role": "assistant", "content": "Yes, from $22 per day."},
        ]
    }
    (item,) = load_eval_items(_write_jsonl(tmp_path / "chat.jsonl", [conversation]))
    assert item.reference == "Yes, from $22 per day."
    assert [m.role for m in item.messages] == ["system", "user", "assistant", "user"]
    assert item.question == "Do you rent tents?"
    assert item.key_facts == ()
    assert not item.out_of_scope


def test_csv_question_answer_pairs_load(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nDo you rent tents?,Yes.\n", encoding="utf-8")
    (item,) = load_eval_items(path)
    assert (item.question, item.reference, item.id) == ("Do you rent tents?", "Yes.", "line-2")


def test_plain_text_is_rejected(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Some notes.\n", encoding="utf-8")
    with pytest.raises(DataError, match="plain text has no questions"):
        load_eval_items(path)


def test_missing_eval_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_eval_items(tmp_path / "missing.jsonl")


def test_system_prompt_goes_first_only_when_the_item_has_none(five_items):
    item = five_items[0]
    assert [m.role for m in item.prompt("Be brief.")] == ["system", "user"]
    assert item.prompt(None) == item.messages


# --- reference loss ---------------------------------------------------------------------------


def _hand_scores(model: Any, tokenizer: Any, item: EvalItem) -> tuple[float, int, int]:
    """Summed NLL, scored tokens and argmax hits of the reference, one unpadded forward."""
    import torch

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": item.question}], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(item.reference + "<|im_end|>", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    nll, hits = 0.0, 0
    for offset, token in enumerate(answer_ids):
        row = logits[len(prompt_ids) + offset - 1]  # the position before predicts the token
        nll -= torch.log_softmax(row, dim=-1)[token].item()
        hits += int(row.argmax().item() == token)
    return nll, len(answer_ids), hits


def test_loss_perplexity_and_token_accuracy_equal_a_hand_computation(tiny, five_items):
    item = five_items[0]
    nll, tokens, hits = _hand_scores(tiny.model, tiny.tokenizer, item)
    report = evaluate_domain(tiny.model, tiny.tokenizer, [item], max_new_tokens=2)
    summary = report.summary()
    assert report.items[0].trained_tokens == tokens
    assert summary["val_loss"] == pytest.approx(nll / tokens, rel=1e-4)
    assert summary["perplexity"] == pytest.approx(math.exp(nll / tokens), rel=1e-4)
    assert summary["token_accuracy"] == pytest.approx(hits / tokens)


def test_batched_reference_scores_equal_one_by_one(tiny, five_items):
    together = reference_scores(tiny.model, tiny.tokenizer, five_items)
    alone = [reference_scores(tiny.model, tiny.tokenizer, [item])[0] for item in five_items]
    for batched, single in zip(together, alone, strict=True):
        assert batched.tokens == single.tokens
        assert batched.correct == single.correct
        assert batched.nll_sum == pytest.approx(single.nll_sum, rel=1e-4)


def test_small_token_budget_splits_batches_without_changing_scores(tiny, five_items):
    wide = reference_scores(tiny.model, tiny.tokenizer, five_items)
    narrow = reference_scores(tiny.model, tiny.tokenizer, five_items, token_budget=1)
    assert [s.nll_sum for s in narrow] == pytest.approx([s.nll_sum for s in wide], rel=1e-4)


# --- generated answers --------------------------------------------------------------------------


def test_evaluate_domain_end_to_end_on_the_tiny_model(tiny, five_items, northpeak_glossary):
    report = evaluate_domain(
        tiny.model, tiny.tokenizer, five_items, glossary=northpeak_glossary, max_new_tokens=8
    )
    summary = report.summary()
    assert set(summary) == set(HEADLINE)
    assert (summary["n_in_scope"], summary["n_out_of_scope"]) == (3, 2)
    for name in ("key_fact_recall", "all_facts_accuracy", "similarity", "rouge_l"):
        assert 0.0 <= summary[name] <= 1.0
    for name in ("redirect_rate", "banned_term_rate", "adherence", "sign_off_rate", "stop_rate"):
        assert 0.0 <= summary[name] <= 1.0
    assert summary["val_loss"] > 0 and summary["perplexity"] > 1
    assert 0.0 <= summary["token_accuracy"] <= 1.0
    assert summary["generation_seconds"] >= 0
    assert [r.id for r in report.items] == [i["id"] for i in FIVE_ITEMS]
    assert all(r.new_tokens <= 8 for r in report.items)
    assert report.to_dict()["settings"]["dtype"] == "float32"
    json.dumps(report.to_dict())  # reports are plain JSON


def _answering(monkeypatch: pytest.MonkeyPatch, texts: list[str], stopped: bool = True) -> None:
    """Make generation return `texts`, so scoring can be checked on known answers."""

    def fake(model, tokenizer, conversations, *, max_new_tokens, batch_size):
        assert len(conversations) == len(texts)
        return [Reply(text, stopped, len(text.split())) for text in texts]

    monkeypatch.setattr(domain, "chat_replies", fake)


def test_answers_equal_to_the_references_score_perfectly(
    tiny, five_items, northpeak_glossary, monkeypatch
):
    _answering(monkeypatch, [i["reference"] for i in FIVE_ITEMS])
    summary = evaluate_domain(
        tiny.model, tiny.tokenizer, five_items, glossary=northpeak_glossary, similarity="rouge_l"
    ).summary()
    for name in ("key_fact_recall", "all_facts_accuracy", "similarity", "rouge_l"):
        assert summary[name] == pytest.approx(1.0)
    assert summary["redirect_rate"] == 1.0
    assert summary["adherence"] == 1.0
    assert summary["banned_term_rate"] == 0.0
    assert summary["sign_off_rate"] == 1.0
    assert summary["stop_rate"] == 1.0


def test_known_answers_give_known_scores(tiny, five_items, northpeak_glossary, monkeypatch):
    _answering(
        monkeypatch,
        [
            "You have sixty days to return it.",  # 1 of 2 facts
            "Unfortunately the store sells it for $349.",  # all facts; banned + replaced terms
            "Open 11am-5pm.",  # all facts
            "Take 400 mg every 6 hours.",  # invents an answer
            "Please check the National Weather Service.",  # redirects
        ],
        stopped=False,
    )
    report = evaluate_domain(tiny.model, tiny.tokenizer, five_items, glossary=northpeak_glossary)
    summary = report.summary()
    assert summary["key_fact_recall"] == pytest.approx(3 / 4)
    assert summary["all_facts_accuracy"] == pytest.approx(2 / 3)
    assert summary["redirect_rate"] == 0.5
    assert summary["banned_term_rate"] == 0.2
    assert summary["adherence"] == 0.8
    assert summary["sign_off_rate"] == 0.0
    assert summary["stop_rate"] == 0.0
    first, second, *_ = report.items
    assert first.facts_found == [True, False]
    assert second.banned_used == ["unfortunately", "store"]
    assert second.replaced_terms_used == ["store"]
    assert [r.redirect for r in report.items] == [None, None, None, False, True]


def test_metrics_with_nothing_to_measure_are_none(tiny, five_items, monkeypatch):
    _answering(monkeypatch, ["Within 60 days, tags attached."])
    summary = evaluate_domain(tiny.model, tiny.tokenizer, five_items[:1]).summary()
    assert summary["redirect_rate"] is None
    assert summary["banned_term_rate"] is None
    assert summary["sign_off_rate"] is None
    assert summary["key_fact_recall"] == 1.0


def test_no_items_is_a_usage_error(tiny):
    with pytest.raises(UsageError, match="no evaluation items"):
        evaluate_domain(tiny.model, tiny.tokenizer, [])


# --- base vs tuned ------------------------------------------------------------------------------


def test_domain_gain_gives_deltas_and_direction():
    base = {"key_fact_recall": 0.1, "val_loss": 3.0, "banned_term_rate": 0.2, "n_in_scope": 97}
    tuned = {"key_fact_recall": 0.7, "val_loss": 1.5, "banned_term_rate": 0.3, "n_in_scope": 97}
    gain = domain_gain(base, tuned)
    assert set(gain) == set(HEADLINE)
    assert gain["key_fact_recall"]["delta"] == pytest.approx(0.6)
    assert gain["key_fact_recall"]["improved"] is True
    assert gain["val_loss"]["delta"] == pytest.approx(-1.5)
    assert gain["val_loss"]["improved"] is True
    assert gain["banned_term_rate"]["improved"] is False
    assert gain["n_in_scope"] == {
        "base": 97,
        "tuned": 97,
        "delta": 0,
        "better": None,
        "improved": None,
    }


def test_domain_gain_of_a_missing_metric_has_no_delta():
    gain = domain_gain({"redirect_rate": None}, {"redirect_rate": 0.5})
    assert gain["redirect_rate"]["delta"] is None
    assert gain["redirect_rate"]["improved"] is None


# --- the real default model ---------------------------------------------------------------------


@pytest.mark.slow
def test_base_model_report_is_complete_and_does_not_know_northpeak(
    shared_home, monkeypatch, northpeak_glossary
):
    monkeypatch.setenv("TUNESMITH_HOME", str(shared_home))
    loaded = load_model("smollm2-135m-instruct")
    items = load_eval_items(NORTHPEAK / "eval.jsonl")
    sample = [i for i in items if not i.out_of_scope][:8] + [i for i in items if i.out_of_scope][:2]
    report = evaluate_domain(loaded.model, loaded.tokenizer, sample, glossary=northpeak_glossary)
    summary = report.summary()
    assert all(summary[name] is not None for name in HEADLINE)
    assert (summary["n_in_scope"], summary["n_out_of_scope"]) == (8, 2)
    assert summary["key_fact_recall"] < 0.5
    assert summary["sign_off_rate"] == 0.0  # the base model has never seen the sign-off
    assert 1 < summary["perplexity"] < 1000
    assert all(r.answer for r in report.items)
