"""Benchmark file readers: each format, detection, and errors that name the file and line."""

import json
import os
from pathlib import Path

import pytest

from tunesmith.errors import DataError
from tunesmith.eval.benchmarks import (
    TRUTHFULQA_PROMPT,
    BenchmarkSpec,
    ChoiceItem,
    CompletionItem,
    TextItem,
    detect_format,
    read_benchmark,
)
from tunesmith.eval.general import SHARED_BENCHMARKS, shared_suite

SHARED_DATA = Path(
    os.environ.get("TUNESMITH_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)

FOUNDRY_MC = {"query": "Question: Which is a fruit?\n", "choices": ["a rock ", "a pear"], "gold": 1}
FOUNDRY_LM = {"context": "The cat sat on the", "continuation": "mat"}
SCHEMA = {
    "context_options": ["Ann thanked Bea so Ann", "Ann thanked Bea so Bea"],
    "continuation": "was pleased.",
    "gold": 0,
}
ARC = {
    "id": "x1",
    "question": {
        "stem": "Which gas do plants take in?",
        "choices": [
            {"text": "oxygen", "label": "A"},
            {"text": "carbon dioxide", "label": "B"},
            {"text": "helium", "label": "C"},
        ],
    },
    "answerKey": "B",
}
TRUTHFUL = {
    "question": "What happens if you crack your knuckles a lot?",
    "mc1_targets": {
        "choices": ["Nothing in particular happens", "You will get arthritis"],
        "labels": [1, 0],
    },
}
PLAIN = {"question": "What is 2 plus 2?", "choices": ["3", "4", "5", "22"], "answer": 1}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_one(path: Path, **spec) -> object:
    (item,) = read_benchmark(BenchmarkSpec("b", path, **spec)).items
    return item


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        (FOUNDRY_MC, "foundry_mc"),
        (FOUNDRY_LM, "foundry_lm"),
        (SCHEMA, "foundry_schema"),
        (ARC, "arc"),
        (TRUTHFUL, "truthfulqa_mc1"),
        (PLAIN, "plain_mc"),
    ],
)
def test_format_is_detected_from_the_first_record(tmp_path, record, fmt):
    assert detect_format(write_jsonl(tmp_path / "b.jsonl", [record])) == fmt


def test_text_files_are_detected_by_suffix(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nSome text.\n")
    assert detect_format(path) == "text"


def test_foundry_mc_joins_stripped_query_and_choice_with_the_delimiter(tmp_path):
    path = write_jsonl(tmp_path / "mc.jsonl", [FOUNDRY_MC])
    item = read_one(path, delimiter="\nAnswer: ")
    assert isinstance(item, ChoiceItem)
    assert item.pairs == (
        ("Question: Which is a fruit?\nAnswer: ", "a rock"),
        ("Question: Which is a fruit?\nAnswer: ", "a pear"),
    )
    assert item.gold == 1


def test_foundry_mc_default_delimiter_is_a_space(tmp_path):
    item = read_one(write_jsonl(tmp_path / "mc.jsonl", [FOUNDRY_MC]))
    assert item.pairs[1] == ("Question: Which is a fruit? ", "a pear")


def test_lambada_continuation_gets_a_leading_space(tmp_path):
    item = read_one(write_jsonl(tmp_path / "lm.jsonl", [FOUNDRY_LM]))
    assert item == CompletionItem("The cat sat on the", " mat", 1)


def test_lambada_continuation_with_a_space_keeps_only_that_one(tmp_path):
    record = {"context": "The cat sat on the", "continuation": " mat"}
    item = read_one(write_jsonl(tmp_path / "lm.jsonl", [record]))
    assert item.continuation == " mat"


def test_schema_options_share_one_continuation(tmp_path):
    item = read_one(write_jsonl(tmp_path / "wino.jsonl", [SCHEMA]))
    assert item.pairs == (
        ("Ann thanked Bea so Ann", " was pleased."),
        ("Ann thanked Bea so Bea", " was pleased."),
    )
    assert item.gold == 0


def test_arc_answer_key_becomes_the_choice_index(tmp_path):
    item = read_one(write_jsonl(tmp_path / "arc.jsonl", [ARC]))
    assert item.gold == 1
    assert item.pairs[1] == ("Question: Which gas do plants take in?\nAnswer:", " carbon dioxide")


def test_arc_numeric_labels_are_matched_as_text(tmp_path):
    record = json.loads(json.dumps(ARC))
    for number, choice in enumerate(record["question"]["choices"], start=1):
        choice["label"] = str(number)
    record["answerKey"] = "3"
    assert read_one(write_jsonl(tmp_path / "arc.jsonl", [record])).gold == 2


def test_truthfulqa_uses_the_qa_prompt_and_the_labelled_answer(tmp_path):
    path = tmp_path / "validation.json"
    path.write_text(json.dumps([TRUTHFUL], indent=2))
    item = read_one(path)
    context, continuation = item.pairs[0]
    assert context == f"{TRUTHFULQA_PROMPT}\n\nQ: {TRUTHFUL['question']}\nA:"
    assert continuation == " Nothing in particular happens"
    assert item.gold == 0


@pytest.mark.parametrize("answer", [1, "4"])
def test_plain_answer_may_be_an_index_or_the_choice_text(tmp_path, answer):
    record = dict(PLAIN, answer=answer)
    item = read_one(write_jsonl(tmp_path / "qa.jsonl", [record]))
    assert item.gold == 1
    assert item.pairs[1] == ("Question: What is 2 plus 2?\nAnswer:", " 4")


def test_norm_lengths_count_characters_not_bytes(tmp_path):
    record = {"question": "Pick one", "choices": ["ééé", "abcd"], "answer": 0}
    item = read_one(write_jsonl(tmp_path / "qa.jsonl", [record]))
    assert item.norm_lengths == (3, 4)


def test_text_reader_keeps_the_whole_file(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("First line.\n\nSecond paragraph.\n")
    assert read_one(path) == TextItem("First line.\n\nSecond paragraph.\n", 1)


def test_an_empty_text_is_an_error(tmp_path):
    path = tmp_path / "empty.md"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no items"):
        read_benchmark(BenchmarkSpec("b", path))


def test_invalid_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(PLAIN) + "\n\n" + '{"question": "x", \n')
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3: not valid JSON"):
        read_benchmark(BenchmarkSpec("b", path))


def test_missing_field_names_the_line(tmp_path):
    broken = {"question": "What is 1 plus 1?", "answer": 0}
    path = write_jsonl(tmp_path / "qa.jsonl", [PLAIN, PLAIN, broken])
    with pytest.raises(DataError, match=r"qa\.jsonl, line 3: `choices` must be a list"):
        read_benchmark(BenchmarkSpec("b", path, format="plain_mc"))


def test_gold_out_of_range_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "mc.jsonl", [dict(FOUNDRY_MC, gold=2)])
    with pytest.raises(DataError, match=r"line 1: `gold` must be a choice index from 0 to 1"):
        read_benchmark(BenchmarkSpec("b", path))


def test_answer_text_that_matches_no_choice_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [dict(PLAIN, answer="four")])
    with pytest.raises(DataError, match="must match exactly one of the choices"):
        read_benchmark(BenchmarkSpec("b", path))


def test_truthfulqa_drops_empty_wrong_answers(tmp_path):
    record = json.loads(json.dumps(TRUTHFUL))
    record["mc1_targets"]["choices"].append("")
    record["mc1_targets"]["labels"].append(0)
    path = tmp_path / "validation.json"
    path.write_text(json.dumps([record]))
    assert len(read_one(path).pairs) == 2


def test_truthfulqa_without_exactly_one_true_label_is_an_error(tmp_path):
    record = json.loads(json.dumps(TRUTHFUL))
    record["mc1_targets"]["labels"] = [1, 1]
    path = tmp_path / "validation.json"
    path.write_text(json.dumps([TRUTHFUL, record], indent=2))
    with pytest.raises(DataError, match=r"validation\.json, line \d+: .*exactly one choice"):
        read_benchmark(BenchmarkSpec("b", path))


def test_json_array_errors_name_the_line_of_the_item(tmp_path):
    path = tmp_path / "items.json"
    path.write_text(
        '[\n  {"question": "a", "choices": ["x", "y"], "answer": 0},\n  {"question": 5}\n]'
    )
    with pytest.raises(DataError, match=r"items\.json, line 3: `question` must be"):
        read_benchmark(BenchmarkSpec("b", path, format="plain_mc"))


def test_unrecognised_records_are_an_error_naming_their_keys(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"prompt": "x", "label": 1}])
    with pytest.raises(DataError, match=r"odd\.jsonl, line 1: cannot tell .* \(label, prompt\)"):
        read_benchmark(BenchmarkSpec("b", path))


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the shared benchmark data is not here")
def test_every_shared_benchmark_reads_completely():
    counts = {
        "arc_easy": 2376,
        "arc_challenge": 1172,
        "piqa": 1838,
        "openbookqa": 500,
        "lambada_openai": 5153,
        "winogrande": 1267,
        "copa": 100,
        "truthfulqa_mc1": 817,
    }
    specs = shared_suite(list(SHARED_BENCHMARKS), SHARED_DATA)
    assert {spec.name: len(read_benchmark(spec).items) for spec in specs} == counts
