import json
from pathlib import Path

import pytest

from tunesmith.cli.main import main

FIXTURES = Path(__file__).parents[1] / "data" / "fixtures"


def chat(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [
        chat(f"What is product number {i} made of?", f"Product {i} is made of material {i}.")
        for i in range(12)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_check_ok_file_exits_0_and_prints_statistics(good_file, tiny_model_dir, capsys):
    assert main(["data", "check", str(good_file), "--model", str(tiny_model_dir)]) == 0
    out = capsys.readouterr().out
    assert "trained tokens" in out
    assert "OK" in out


def test_check_bad_file_exits_1_and_names_codes(capsys):
    assert main(["data", "check", str(FIXTURES / "mixed_errors.jsonl"), "--no-stats"]) == 1
    out = capsys.readouterr().out
    assert "invalid_json" in out and "unrecognized_role" in out
    assert "FAILED" in out


def test_check_json_lists_every_problem_and_statistics(good_file, tiny_model_dir, capsys):
    args = ["data", "check", str(good_file), "--model", str(tiny_model_dir), "--json"]
    assert main([*args, "--max-length", "20"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["counts"] == {"too_long": 12, "too_few_examples": 1}
    assert data["stats"]["max_length"] == 20
    assert data["stats"]["overlong"]["errors"] == 12


def test_check_uses_the_model_context_length_by_default(good_file, tiny_model_dir, capsys):
    main(["data", "check", str(good_file), "--model", str(tiny_model_dir), "--json"])
    assert json.loads(capsys.readouterr().out)["stats"]["max_length"] == 512


def test_check_overlong_truncate_is_a_warning(good_file, tiny_model_dir, capsys):
    args = ["data", "check", str(good_file), "--model", str(tiny_model_dir), "--json"]
    assert main([*args, "--max-length", "20", "--overlong", "truncate"]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["overlong"]["truncated"] == 12


def test_check_no_stats_does_not_load_a_model(good_file, capsys):
    assert main(["data", "check", str(good_file), "--no-stats", "--model", "no-such-model"]) == 0
    assert "trained tokens" not in capsys.readouterr().out


def test_check_eval_leak_fails_and_names_both_files(capsys):
    args = ["data", "check", str(FIXTURES / "eval_leak_train.jsonl"), "--no-stats"]
    args += ["--eval", str(FIXTURES / "eval_leak_eval.jsonl"), "--min-examples", "0"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "eval_leak" in out
    assert "eval_leak_eval.jsonl:2" in out


def test_check_caps_the_printed_problems(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n" * 70)
    assert main(["data", "check", str(path), "--no-stats"]) == 1
    assert "and 21 more problems" in capsys.readouterr().out


def test_check_missing_file_is_a_usage_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    assert main(["data", "check", str(missing), "--no-stats"]) == 2
    assert str(missing) in capsys.readouterr().err


def test_check_ambiguous_format_fails_with_a_hint(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"messages": [], "conversations": []}) + "\n")
    assert main(["data", "check", str(path), "--no-stats"]) == 1
    assert "--format" in capsys.readouterr().err


def test_check_help_describes_every_option(capsys):
    assert main(["data", "check", "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--model",
        "--format",
        "--max-length",
        "--overlong",
        "--eval",
        "--json",
        "--no-stats",
    ):
        assert option in out


def test_scan_reports_findings_and_exits_0(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("Write to jane.doe@example.com for a refund.\n")
    assert main(["data", "scan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "email" in out
    assert "jane.doe@example.com" not in out


def test_scan_fail_on_findings_exits_1(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Write to jane.doe@example.com\n")
    assert main(["data", "scan", str(path), "--fail-on-findings"]) == 1


def test_scan_json_has_summary_and_findings(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("Write to jane.doe@example.com\n")
    assert main(["data", "scan", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["email"] == 1
    assert data["findings"][0]["line"] == 1


def test_redact_writes_a_copy_without_the_values(tmp_path, capsys):
    src, dst = tmp_path / "notes.txt", tmp_path / "clean.txt"
    src.write_text("Write to jane.doe@example.com\n")
    assert main(["data", "redact", str(src), "-o", str(dst)]) == 0
    assert "jane.doe@example.com" not in dst.read_text()
    assert "jane.doe@example.com" in src.read_text()


def test_redact_json_and_report_file(tmp_path, capsys):
    src, dst, report = tmp_path / "n.txt", tmp_path / "c.txt", tmp_path / "r.json"
    src.write_text("Write to jane.doe@example.com\n")
    args = ["data", "redact", str(src), "-o", str(dst), "--report", str(report), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["email"] == 1
    assert json.loads(report.read_text())["counts"]["email"] == 1


def test_redact_existing_output_is_a_usage_error_unless_overwrite(tmp_path, capsys):
    src, dst = tmp_path / "notes.txt", tmp_path / "clean.txt"
    src.write_text("Write to jane.doe@example.com\n")
    dst.write_text("old")
    assert main(["data", "redact", str(src), "-o", str(dst)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["data", "redact", str(src), "-o", str(dst), "--overwrite"]) == 0


def test_redact_onto_itself_is_a_usage_error(tmp_path):
    src = tmp_path / "notes.txt"
    src.write_text("Write to jane.doe@example.com\n")
    assert main(["data", "redact", str(src), "-o", str(src), "--overwrite"]) == 2


def test_prepare_data_file_prints_a_summary(good_file, tiny_model_dir, capsys):
    args = ["data", "prepare", str(good_file), "--model", str(tiny_model_dir), "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["read_train"] + data["read_validation"] == 12
    assert data["seq_len"] == 512


def test_prepare_config_file_uses_its_data_section(good_file, tiny_model_dir, tmp_path, capsys):
    config = tmp_path / "job.yaml"
    config.write_text(f"model:\n  name: {tiny_model_dir}\ndata:\n  train: {good_file}\n")
    assert main(["data", "prepare", str(config), "--set", "data.pack=false"]) == 0
    assert "train_examples" in capsys.readouterr().out


def test_prepare_bad_data_exits_1_naming_the_line(tiny_model_dir, capsys):
    args = ["data", "prepare", str(FIXTURES / "invalid_json.jsonl"), "--model", str(tiny_model_dir)]
    assert main(args) == 1
    assert "line 2, column 49" in capsys.readouterr().err
