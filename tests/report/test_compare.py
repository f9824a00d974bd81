import json
from pathlib import Path

import pytest

from tunesmith.errors import UsageError
from tunesmith.report.compare import compare_runs, comparison_markdown, read_run_row
from tunesmith.report.html import write_report


def fake_run(root: Path, name, method, *, recall, general, wall, stored_bytes, stop=1.0):
    run = root / name
    (run / "final").mkdir(parents=True)
    (run / "final" / "weights.bin").write_bytes(b"x" * stored_bytes)
    record = {"name": name, "method": method, "trainable_parameters": 1000,
              "trainable_share": 0.01, "peak_memory_mb": 900.0, "wall_seconds": wall}  # fmt: skip
    (run / "run.json").write_text(json.dumps(record))
    rows = [{"step": s, "loss": 3.0 - s / 10, "tokens_per_second": 100.0 * s} for s in (1, 2, 3)]
    rows[-1]["val_loss"] = 2.9
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evaluation = {
        "domain": {"key_fact_recall": recall, "stop_rate": stop},
        "base_domain": {"key_fact_recall": 0.05},
        "general": {"score": general},
        "base_general": {"score": 0.50},
    }
    (run / "eval.json").write_text(json.dumps(evaluation))
    return run


@pytest.fixture
def runs(tmp_path):
    return [
        fake_run(tmp_path, "a", "lora", recall=0.40, general=0.50, wall=100, stored_bytes=10),
        fake_run(tmp_path, "b", "full", recall=0.60, general=0.45, wall=300, stored_bytes=1000),
        fake_run(
            tmp_path, "c", "freeze", recall=0.30, general=0.49, wall=50, stored_bytes=100, stop=0.5
        ),
    ]


def test_row_derives_gain_forgetting_and_speed(runs):
    row = read_run_row(runs[1])
    assert row.domain_gain == pytest.approx(0.55)
    assert row.forgetting == pytest.approx(0.05)
    assert row.tokens_per_second == 250.0  # median of steps 2 and 3; step 1 is warm-up
    assert row.stored_mb == pytest.approx(1000 / 1024**2, abs=0.01)


def test_verdicts_follow_the_numbers(runs):
    rows = {row.run: row for row in compare_runs(runs)}
    assert "most domain knowledge" in rows["b"].verdict
    assert "forgets 5.0 points" in rows["b"].verdict
    assert "keeps general skills best" in rows["a"].verdict
    assert "smallest to ship" in rows["a"].verdict
    assert "fastest to train" in rows["c"].verdict
    assert "rambles" in rows["c"].verdict


def test_markdown_has_one_line_per_run(runs):
    text = comparison_markdown(compare_runs(runs))
    assert text.count("\n") == 2 + len(runs)
    assert "| b | full |" in text and "+55.0 pts" in text


def test_html_report_is_self_contained(runs, tmp_path):
    paths = write_report(compare_runs(runs), tmp_path / "report")
    page = Path(paths["report.html"]).read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "http://" not in page and "https://" not in page
    assert Path(paths["comparison.md"]).is_file()


def test_run_without_evaluation_still_compares(tmp_path, runs):
    (runs[0] / "eval.json").unlink()
    row = compare_runs(runs)[0]
    assert row.domain_score is None and "-" in comparison_markdown([row])


def test_folder_that_is_not_a_run_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a run folder"):
        compare_runs([tmp_path])
