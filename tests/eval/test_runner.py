"""`tunesmith eval` orchestration: a run vs its base, cached base scores, deltas, eval.json."""

import json

import pytest

from tunesmith.cli.main import main
from tunesmith.config import load_config
from tunesmith.eval import runner
from tunesmith.train.loop import train

EVAL_ITEMS = [
    {"id": "q1", "question": "What is the return window?", "reference": "60 days.",
     "key_facts": ["60 days"], "fact_ids": ["r"], "out_of_scope": False},
    {"id": "q2", "question": "What does shipping cost?", "reference": "It costs $4.95.",
     "key_facts": ["$4.95"], "fact_ids": ["s"], "out_of_scope": False},
    {"id": "q3", "question": "Which stock should I buy?", "reference": "I can only help with "
     "Northpeak orders.", "key_facts": [], "fact_ids": [], "out_of_scope": True},
]  # fmt: skip
MC_ITEMS = [
    {"question": f"What is {a} plus {b}?", "choices": [str(a + b), str(a + b + 1), "0", "7"],
     "answer": 0}
    for a, b in ((1, 2), (2, 3), (3, 4), (4, 5))
]  # fmt: skip


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def eval_files(tmp_path):
    return write_jsonl(tmp_path / "eval.jsonl", EVAL_ITEMS), write_jsonl(
        tmp_path / "mc.jsonl", MC_ITEMS
    )


@pytest.fixture
def lora_run(job, tmp_path):
    method = {"name": "lora", "lora": {"r": 4, "dropout": 0.0}}
    return train(load_config(job(method=method, train={"lr": 5e-2})), tmp_path / "lora").run_dir


def evaluate(run_dir, eval_files):
    domain, mc = eval_files
    return runner.evaluate_target(
        str(run_dir), domain_path=domain, general_paths=[mc], general_limit=None, max_new_tokens=8
    )


def test_run_evaluation_reports_model_base_and_deltas(lora_run, eval_files):
    result = evaluate(lora_run, eval_files)
    for key in ("domain", "base_domain", "domain_gain", "general", "base_general", "forgetting"):
        assert key in result, key
    assert result["domain"]["n_in_scope"] == 2
    assert 0.0 <= result["general"]["score"] <= 1.0
    expected = round(result["base_general"]["score"] - result["general"]["score"], 4)
    assert result["forgetting"]["absolute"] == pytest.approx(expected)
    saved = json.loads((lora_run / "eval.json").read_text())
    assert saved["domain"] == result["domain"]


def test_lora_base_scores_equal_the_base_model_loaded_alone(lora_run, eval_files, tiny_model_dir):
    result = evaluate(lora_run, eval_files)
    domain, mc = eval_files
    alone = runner.evaluate_target(
        str(tiny_model_dir), domain_path=domain, general_paths=[mc], general_limit=None,
        max_new_tokens=8,
    )  # fmt: skip
    assert result["base_general"]["benchmarks"] == alone["general"]["benchmarks"]
    assert result["base_domain"]["key_fact_recall"] == alone["domain"]["key_fact_recall"]
    assert result["base_domain"]["val_loss"] == pytest.approx(alone["domain"]["val_loss"])


def test_base_model_is_scored_once_per_settings(lora_run, eval_files, monkeypatch):
    evaluate(lora_run, eval_files)
    calls = []
    real = runner._score
    monkeypatch.setattr(runner, "_score", lambda *a, **k: calls.append(k["label"]) or real(*a, **k))
    evaluate(lora_run, eval_files)
    assert calls == [str(lora_run)]  # the tuned model only; the base came from the cache


def test_eval_and_compare_commands(lora_run, eval_files, tmp_path, capsys):
    domain, mc = eval_files
    args = ["eval", str(lora_run), "--domain", str(domain), "--general", str(mc),
            "--max-new-tokens", "8", "--json"]  # fmt: skip
    assert main(args) == 0
    assert "domain_gain" in json.loads(capsys.readouterr().out)
    out = tmp_path / "report"
    assert main(["compare", str(lora_run), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"][0]["domain_score"] is not None
    assert (out / "report.html").is_file()


def test_a_run_folder_copied_to_a_new_home_is_indexed_and_its_eval_recorded(
    lora_run, eval_files, tmp_path, monkeypatch
):
    from tunesmith.store import RunRegistry

    monkeypatch.setenv("TUNESMITH_HOME", str(tmp_path / "other-machine"))
    evaluate(lora_run, eval_files)
    with RunRegistry() as registry:
        (record,) = [e for e in registry.list_evals() if e.kind == "run"]
        assert record.run_id == json.loads((lora_run / "run.json").read_text())["id"]


def test_nothing_to_evaluate_is_a_usage_error(tiny_model_dir, capsys):
    assert main(["eval", str(tiny_model_dir), "--no-general"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err


def test_evaluation_loads_the_target_on_the_inference_device(load_device_probe):
    from tunesmith.errors import UsageError

    with pytest.raises(UsageError, match="stop here"):
        runner.evaluate_target("any-model", skip_general=True)
    assert load_device_probe["device"] == "cuda:3"


def test_a_run_with_notes_is_evaluated_with_them_and_its_base_without(notes_run, eval_files):
    domain, _ = eval_files
    result = runner.evaluate_target(
        str(notes_run), domain_path=domain, skip_general=True, max_new_tokens=4
    )
    assert result["notes"] == 2
    assert result["domain"]["n_in_scope"] == 2
    assert "base_domain" in result


def test_notes_can_be_left_out_of_an_evaluation(notes_run, eval_files):
    domain, _ = eval_files
    with_notes = runner.evaluate_target(
        str(notes_run), domain_path=domain, skip_general=True, with_base=False, max_new_tokens=4
    )
    without = runner.evaluate_target(
        str(notes_run), domain_path=domain, skip_general=True, with_base=False, max_new_tokens=4,
        use_notes=False,
    )  # fmt: skip
    assert without["notes"] is None
    # The notes lengthen every prompt, so the reference answers are scored on other inputs.
    assert with_notes["domain"]["val_loss"] != without["domain"]["val_loss"]
