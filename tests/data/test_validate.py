import json
import time
import tracemalloc
from pathlib import Path

import pytest

from tunesmith.data.validate import CODES, check_file
from tunesmith.errors import UsageError

FIXTURES = Path(__file__).parent / "fixtures"


def check(name, **options):
    options.setdefault("min_examples", 0)
    return check_file(FIXTURES / name, **options)


def found(report):
    """(code, line) of every problem."""
    return {(p.code, p.line) for p in report.problems}


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


@pytest.mark.parametrize(
    ("name", "code", "line"),
    [
        ("data_type.jsonl", "data_type", 2),
        ("missing_messages_list.jsonl", "missing_messages_list", 3),
        ("message_missing_key.jsonl", "message_missing_key", 2),
        ("message_unrecognized_key.jsonl", "message_unrecognized_key", 3),
        ("unrecognized_role.jsonl", "unrecognized_role", 2),
        ("missing_content.jsonl", "missing_content", 4),
        ("example_missing_assistant_message.jsonl", "example_missing_assistant_message", 1),
        ("invalid_weight.jsonl", "invalid_weight", 2),
        ("missing_column.csv", "missing_column", 1),
    ],
)
def test_each_error_code_is_reported_at_its_line(name, code, line):
    report = check(name)
    assert found(report) == {(code, line)}
    assert not report.ok


def test_invalid_json_reports_line_and_column():
    (problem,) = check("invalid_json.jsonl").problems
    assert (problem.code, problem.line, problem.column) == ("invalid_json", 2, 49)


def test_invalid_utf8_reports_line_and_byte_column():
    (problem,) = check("invalid_utf8.jsonl").problems
    assert (problem.code, problem.line, problem.column) == ("invalid_utf8", 3, 47)


def test_empty_file_is_an_error():
    report = check("empty_file.jsonl", min_examples=10)
    assert found(report) == {("empty_file", None)}
    assert not report.ok


def test_too_few_examples_counts_usable_examples():
    report = check("too_few_examples.jsonl", min_examples=10)
    (problem,) = report.problems
    assert (problem.code, problem.line, problem.severity) == ("too_few_examples", None, "error")
    assert "3 usable" in problem.message


def test_exact_duplicate_is_a_warning_naming_the_first_line():
    report = check("duplicate.jsonl")
    (problem,) = report.problems
    assert (problem.code, problem.line, problem.severity) == ("duplicate", 4, "warning")
    assert "line 2" in problem.message
    assert report.ok


def test_near_duplicate_is_a_warning_naming_the_first_line():
    (problem,) = check("near_duplicate.jsonl").problems
    assert (problem.code, problem.line, problem.severity) == ("near_duplicate", 3, "warning")
    assert "line 1" in problem.message


def test_near_duplicates_can_be_skipped():
    assert check("near_duplicate.jsonl", near_duplicates=False).problems == []


def test_eval_leak_names_both_lines_exact_and_near():
    report = check("eval_leak_train.jsonl", eval_path=FIXTURES / "eval_leak_eval.jsonl")
    leaks = sorted((p for p in report.problems if p.code == "eval_leak"), key=lambda p: p.line)
    assert [(p.line, p.severity) for p in leaks] == [(2, "error"), (3, "warning")]
    assert "line 2" in leaks[0].message and leaks[0].file.endswith("eval_leak_eval.jsonl")
    assert "line 4" in leaks[1].message
    assert report.eval["exact_leaks"] == 1 and report.eval["near_leaks"] == 1


def test_eval_file_in_chat_format_is_checked_for_leaks(tmp_path):
    eval_path = tmp_path / "eval.jsonl"
    eval_path.write_text((FIXTURES / "eval_leak_train.jsonl").read_text().splitlines()[1] + "\n")
    report = check("eval_leak_train.jsonl", eval_path=eval_path)
    assert ("eval_leak", 1) in found(report)


def test_too_long_is_an_error_under_the_error_policy(tokenizer):
    report = check("too_long.jsonl", tokenizer=tokenizer, max_length=64)
    (problem,) = report.problems
    assert (problem.code, problem.line, problem.severity) == ("too_long", 2, "error")
    assert report.stats["overlong"]["errors"] == 1


@pytest.mark.parametrize("policy", ["truncate", "drop"])
def test_too_long_is_a_counted_warning_under_truncate_and_drop(tokenizer, policy):
    report = check("too_long.jsonl", tokenizer=tokenizer, max_length=64, overlong=policy)
    (problem,) = report.problems
    assert (problem.code, problem.line, problem.severity) == ("too_long", 2, "warning")
    assert report.stats["overlong"][f"{policy}d" if policy == "truncate" else "dropped"] == 1
    assert report.usable == (3 if policy == "truncate" else 2)


def test_template_error_when_the_tokenizer_has_no_chat_template():
    class NoTemplate:
        chat_template = None

    report = check("too_few_examples.jsonl", tokenizer=NoTemplate())
    assert found(report) == {("template_error", 1), ("template_error", 2), ("template_error", 3)}


def test_mixed_errors_are_all_reported_in_one_run():
    report = check("mixed_errors.jsonl")
    assert found(report) == {
        ("invalid_json", 2),
        ("data_type", 3),
        ("missing_messages_list", 4),
        ("message_missing_key", 5),
        ("message_unrecognized_key", 6),
        ("unrecognized_role", 7),
        ("missing_content", 8),
        ("example_missing_assistant_message", 9),
        ("invalid_weight", 10),
        ("duplicate", 11),
    }


def test_every_reported_code_is_documented():
    report = check("mixed_errors.jsonl", min_examples=10)
    assert {p.code for p in report.problems} <= set(CODES)
    docs = (Path(__file__).parents[2] / "docs" / "data.md").read_text()
    assert all(f"`{code}`" in docs for code in CODES)


def test_statistics_follow_the_chat_template(tokenizer):
    report = check_file(FIXTURES / "duplicate.jsonl", tokenizer=tokenizer, min_examples=0)
    stats = report.stats
    per = stats["tokens_per_example"]
    assert stats["tokenized"] == 4
    assert per["min"] <= per["mean"] <= per["p95"] <= per["max"]
    assert 0 < stats["trained_tokens"] < stats["total_tokens"]
    assert stats["fit"] == 4  # the tokenizer's own limit (8192) fits everything


def test_report_to_dict_is_json_with_every_problem():
    data = json.loads(json.dumps(check("mixed_errors.jsonl").to_dict()))
    assert data["ok"] is False
    assert data["errors"] == 9 and data["warnings"] == 1
    assert len(data["problems"]) == 10
    assert data["counts"]["invalid_json"] == 1


def test_bad_overlong_policy_is_a_usage_error():
    with pytest.raises(UsageError, match="overlong"):
        check("duplicate.jsonl", overlong="squeeze")


def test_missing_eval_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="evaluation file"):
        check("duplicate.jsonl", eval_path=tmp_path / "nope.jsonl")


def test_check_streams_a_large_file_in_bounded_memory(tmp_path):
    """~50 MB of distinct ~2 KB examples: memory grows with the example count (hashes and
    MinHash signatures, about 1 KB each), never with the file size."""
    import random

    rng = random.Random(0)
    words = [f"word{i}" for i in range(20000)]
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        while out.tell() < 50_000_000:
            answer = " ".join(rng.choices(words, k=230))
            out.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": "Question?"},
                            {"role": "assistant", "content": answer},
                        ]
                    }
                )
                + "\n"
            )
    started = time.perf_counter()
    tracemalloc.start()
    try:
        report = check_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.examples > 20_000
    assert peak < 60_000_000, f"peak traced memory {peak / 1e6:.0f} MB"
    assert time.perf_counter() - started < 60
