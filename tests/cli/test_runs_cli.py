import json
import shutil
from pathlib import Path

import pytest

from tunesmith.cli.main import main
from tunesmith.store import RunRegistry, register_run_folder


def write_run_folder(parent: Path, run_id: str, status: str = "succeeded", **fields) -> Path:
    """A run folder as the trainer writes it (id and name are the folder name)."""
    folder = parent / run_id
    (folder / "final").mkdir(parents=True)
    run = {
        "id": run_id,
        "name": run_id,
        "status": status,
        "method": "lora",
        "model": {"name": "smollm2-135m-instruct", "sha256": "m" * 64},
        "data": {"train": "train.jsonl", "sha256": "d" * 64},
        "created_at": f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T10:00:00Z",
        "steps": 20,
        "best_val_loss": 1.25,
        "wall_seconds": 75.0,
        **fields,
    }
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "config.yaml").write_text("method:\n  name: lora\n")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    """Three registered runs: two succeeded, one failed."""
    folders = {
        "20250102-100000-lora": write_run_folder(tmp_path, "20250102-100000-lora"),
        "20250103-100000-full": write_run_folder(tmp_path, "20250103-100000-full", method="full"),
        "20250104-100000-lora": write_run_folder(tmp_path, "20250104-100000-lora", "failed"),
    }
    for folder in folders.values():
        register_run_folder(folder)
    return folders


def run_json(capsys, args: list[str]):
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_list_json_lists_registered_runs_newest_first(capsys, runs):
    listed = run_json(capsys, ["runs", "list", "--json"])
    assert [run["id"] for run in listed] == sorted(runs, reverse=True)
    assert listed[0]["missing"] is False


def test_runs_list_filters_by_status(capsys, runs):
    listed = run_json(capsys, ["runs", "list", "--status", "failed", "--json"])
    assert [run["id"] for run in listed] == ["20250104-100000-lora"]


def test_runs_list_unknown_status_is_a_usage_error(capsys, runs):
    assert main(["runs", "list", "--status", "done"]) == 2
    assert "unknown run status 'done'" in capsys.readouterr().err


def test_runs_list_table_shows_missing_for_a_deleted_folder(capsys, runs):
    shutil.rmtree(runs["20250103-100000-full"])
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert "missing" in out
    assert "succeeded" in out and "failed" in out


def test_runs_list_json_marks_a_deleted_folder_missing(capsys, runs):
    shutil.rmtree(runs["20250103-100000-full"])
    listed = {run["id"]: run for run in run_json(capsys, ["runs", "list", "--json"])}
    assert listed["20250103-100000-full"]["missing"] is True
    assert listed["20250102-100000-lora"]["missing"] is False


def test_runs_list_with_no_runs_says_so(capsys):
    assert main(["runs", "list"]) == 0
    assert "No runs yet" in capsys.readouterr().err


def test_runs_show_json_merges_the_current_run_json(capsys, runs):
    folder = runs["20250102-100000-lora"]
    current = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**current, "steps": 40}))
    shown = run_json(capsys, ["runs", "show", "20250102", "--json"])
    assert shown["id"] == "20250102-100000-lora"
    assert shown["summary"]["steps"] == 40
    assert shown["run_json"]["steps"] == 40
    assert shown["files"]["final"] is True and shown["files"]["loss.png"] is False


def test_runs_show_by_folder_path(capsys, runs):
    shown = run_json(capsys, ["runs", "show", str(runs["20250103-100000-full"]), "--json"])
    assert shown["method"] == "full"


def test_runs_show_of_a_deleted_folder_reports_missing(capsys, runs):
    shutil.rmtree(runs["20250102-100000-lora"])
    shown = run_json(capsys, ["runs", "show", "20250102-100000-lora", "--json"])
    assert shown["missing"] is True
    assert shown["run_json"] is None
    assert shown["summary"]["steps"] == 20  # what the registry last knew


def test_runs_show_with_a_damaged_run_json_warns_and_shows_the_record(capsys, runs):
    (runs["20250102-100000-lora"] / "run.json").write_text("{truncated")
    assert main(["runs", "show", "20250102-100000-lora", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"]["steps"] == 20
    assert "warning:" in captured.err


def test_runs_show_table_prints_the_record(capsys, runs):
    assert main(["runs", "show", "20250103"]) == 0
    out = capsys.readouterr().out
    assert "20250103-100000-full" in out
    assert "best_val_loss" in out


def test_runs_show_unknown_run_is_a_usage_error(capsys, runs):
    assert main(["runs", "show", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert "no run 'no-such-run'" in err
    assert "Traceback" not in err


def test_runs_show_ambiguous_prefix_is_a_usage_error(capsys, runs):
    assert main(["runs", "show", "2025010"]) == 2
    assert "ambiguous" in capsys.readouterr().err


def test_runs_forget_removes_the_run_and_keeps_its_files(capsys, runs):
    folder = runs["20250102-100000-lora"]
    forgotten = run_json(capsys, ["runs", "forget", "20250102", "--json"])
    assert forgotten["id"] == "20250102-100000-lora"
    assert (folder / "run.json").is_file()
    with RunRegistry() as registry:
        assert [run.id for run in registry.list_runs()] == [
            "20250104-100000-lora",
            "20250103-100000-full",
        ]


@pytest.mark.parametrize("command", ["list", "show", "forget"])
def test_runs_help_describes_every_option(capsys, command):
    assert main(["runs", command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--json" in out and "Print the result as JSON" in out
