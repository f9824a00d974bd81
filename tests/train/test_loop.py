"""The training loop end to end on the tiny model, through the real CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tunesmith.cli.main import main
from tunesmith.config import load_config
from tunesmith.errors import TunesmithError
from tunesmith.train import memory
from tunesmith.train.loop import train


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr().out
    return code, out


def train_json(job_path, run_dir, capsys, *extra):
    args = ["train", str(job_path), "--output", str(run_dir), "--json", *extra]
    code, out = run_cli(args, capsys)
    assert code == 0, out
    return json.loads(out)


def read_metrics(run_dir: Path):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_lora_run_writes_a_complete_run_folder(job, tmp_path, capsys):
    run_dir = tmp_path / "run"
    record = train_json(job(), run_dir, capsys)
    assert record["status"] == "succeeded"
    assert record["steps"] == 4
    for key in (
        "started_at",
        "ended_at",
        "wall_seconds",
        "peak_memory_mb",
        "tokens_seen",
        "trainable_parameters",
        "total_parameters",
        "final_train_loss",
        "best_val_loss",
    ):
        assert record[key] is not None, key  # fmt: skip
    assert record["model"]["sha256"] and record["data"]["sha256"]
    assert (run_dir / "config.yaml").is_file()
    assert load_config(run_dir / "config.yaml").method.name == "lora"
    assert (run_dir / "final" / "adapter_config.json").is_file()
    assert (run_dir / "final" / "adapter_model.safetensors").is_file()
    assert (run_dir / "final" / "tokenizer.json").is_file()
    assert (run_dir / "loss.png").stat().st_size > 0
    rows = read_metrics(run_dir)
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert {"loss", "lr", "grad_norm", "tokens_per_second"} <= set(rows[0])
    assert "val_loss" in rows[1]
    assert list((run_dir / "checkpoints").glob("step-*"))


def test_run_record_says_where_and_in_what_precision_it_trained(job, tmp_path, capsys):
    import torch

    from tunesmith.train.precision import resolve_precision

    job_path = job()
    record = train_json(job_path, tmp_path / "run", capsys)
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert record["device"] == str(device)
    assert record["processes"] == 1
    assert record["precision"] == resolve_precision(load_config(job_path).train.precision, device)


def test_freeze_final_holds_only_the_trained_tensors(job, tmp_path, capsys):
    run_dir = tmp_path / "run"
    job_path = job(method={"name": "freeze", "freeze": {"trainable_layers": 1}})
    record = train_json(job_path, run_dir, capsys)
    tensors = load_file(run_dir / "final" / "trained.safetensors")
    assert set(tensors) == {n for n in tensors if n.startswith("model.layers.1.") or "norm" in n}
    assert sum(t.numel() for t in tensors.values()) == record["trainable_parameters"]


def test_full_final_is_a_loadable_model(job, tmp_path, capsys):
    from tunesmith.models import load_model

    run_dir = tmp_path / "run"
    train_json(job(method={"name": "full"}, train={"lr": 1e-4}), run_dir, capsys)
    loaded = load_model(str(run_dir / "final"))
    assert loaded.model.config.num_hidden_layers == 2


def test_training_lowers_the_loss(job, tmp_path, capsys):
    run_dir = tmp_path / "run"
    job_path = job(method={"name": "full"}, train={"max_steps": 30, "lr": 3e-3, "eval_every": 30})
    train_json(job_path, run_dir, capsys)
    rows = read_metrics(run_dir)
    assert rows[-1]["loss"] < 0.85 * rows[0]["loss"]


def test_gradient_accumulation_matches_one_big_batch(job, tmp_path):
    no_dropout = {"name": "lora", "lora": {"r": 4, "dropout": 0.0}}  # dropout masks differ
    one = train(load_config(job(train={"grad_accum": 1}, method=no_dropout)), tmp_path / "a")
    two = train(load_config(job(train={"grad_accum": 2}, method=no_dropout)), tmp_path / "b")
    rows_one, rows_two = read_metrics(one.run_dir), read_metrics(two.run_dir)
    # The first gradient is computed before any update: it must match to float precision. A
    # mean of micro-batch means instead of one sum / trained tokens would change it visibly.
    assert rows_one[0]["grad_norm"] == pytest.approx(rows_two[0]["grad_norm"], rel=1e-5)
    # Later losses differ only by float summation order (different padded shapes), which
    # AdamW's normalisation amplifies a little: measured up to 1e-5 relative after 4 steps.
    losses_one = [row["loss"] for row in rows_one]
    assert losses_one == pytest.approx([row["loss"] for row in rows_two], rel=1e-4)


def test_existing_run_folder_is_refused(job, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_json(job(), run_dir, capsys)
    code = main(["train", str(job()), "--output", str(run_dir)])
    assert code == 2
    assert "already holds run" in capsys.readouterr().err


def test_memory_estimate_refuses_before_training(job, tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1024**2)
    with pytest.raises(TunesmithError, match=r"needs about .* GiB but only 0\.0 GiB"):
        train(load_config(job()), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_early_stopping_ends_the_run(job, tmp_path):
    config = load_config(
        job(train={"max_steps": 40, "eval_every": 1, "lr": 0.5, "early_stopping_patience": 2})
    )
    result = train(config, run_dir=tmp_path / "run")
    assert result.record["stopped_early"] is True
    assert result.record["steps"] < 40


def test_events_stream_is_json_lines(job, tmp_path, capsys):
    code, out = run_cli(["train", str(job()), "--output", str(tmp_path / "r"), "--events"], capsys)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "start"
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3, 4]
    assert events[-1] == {**events[-1], "event": "end", "status": "succeeded"}


def test_bad_config_value_is_a_usage_error(job, capsys):
    assert main(["train", str(job()), "--set", "train.batch_size=0"]) == 2
    assert "train.batch_size" in capsys.readouterr().err


# --- crash, interrupt and resume (real processes) ---------------------------------------


def spawn_train(args: list[str], **env_extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    command = [sys.executable, "-m", "tunesmith.cli.main", "train", *args, "--quiet"]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A test run started in the background inherits an ignored SIGINT, and Python then
        # installs no KeyboardInterrupt handler: give the child the interactive default.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def final_adapter(run_dir: Path):
    return load_file(run_dir / "final" / "adapter_model.safetensors")


@pytest.fixture
def long_job(job):
    return job(
        train={"max_steps": 40, "save_every": 4, "eval_every": 10, "keep_checkpoints": 3},
        method={"name": "lora", "lora": {"r": 4, "dropout": 0.1}},
    )


def test_resume_after_sigkill_equals_uninterrupted_run(long_job, tmp_path):
    reference = tmp_path / "reference"
    assert spawn_train([str(long_job), "--output", str(reference)]).wait() == 0

    crashed = tmp_path / "crashed"
    process = spawn_train([str(long_job), "--output", str(crashed)])
    wait_for(crashed / "checkpoints" / "step-00000008" / "manifest.json", process)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # really killed mid-run, not finished
    assert json.loads((crashed / "run.json").read_text())["status"] == "running"

    assert spawn_train(["--resume", str(crashed)]).wait() == 0
    expected, resumed = final_adapter(reference), final_adapter(crashed)
    assert set(expected) == set(resumed)
    for name in expected:
        assert (expected[name] == resumed[name]).all(), name  # bit-identical on CPU
    assert [r["step"] for r in read_metrics(crashed)] == list(range(1, 41))


def test_ctrl_c_checkpoints_marks_cancelled_and_resumes(long_job, tmp_path):
    run_dir = tmp_path / "run"
    process = spawn_train([str(long_job), "--output", str(run_dir)])
    wait_for(run_dir / "checkpoints" / "step-00000004" / "manifest.json", process)
    process.send_signal(signal.SIGINT)
    assert process.wait() != 0
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "cancelled"
    assert spawn_train(["--resume", str(run_dir)]).wait() == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"


def test_corrupted_newest_checkpoint_falls_back_to_previous(long_job, tmp_path):
    run_dir = tmp_path / "run"
    process = spawn_train([str(long_job), "--output", str(run_dir)])
    wait_for(run_dir / "checkpoints" / "step-00000012" / "manifest.json", process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    newest = sorted((run_dir / "checkpoints").glob("step-*"))[-1]
    weights = newest / "trainable.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    resumed = spawn_train(["--resume", str(run_dir)])
    _, err = resumed.communicate()
    assert resumed.returncode == 0, err.decode()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "succeeded"


@pytest.mark.parametrize("replay_share", [0.0, 0.3])  # replay: soft targets split by rank
def test_two_processes_match_one_process(job, tmp_path, replay_share):
    job_path = job(
        train={"max_steps": 3, "batch_size": 4, "eval_every": 3, "replay": {"share": replay_share}},
        method={"name": "lora", "lora": {"r": 4, "dropout": 0.0}},  # dropout masks differ
    )
    single = tmp_path / "single"
    double = tmp_path / "double"
    # CPU processes (gloo) even where a GPU is visible: two ranks need two GPUs.
    cpu_only = {"CUDA_VISIBLE_DEVICES": ""}
    assert spawn_train([str(job_path), "--output", str(single)], **cpu_only).wait() == 0
    process = spawn_train([str(job_path), "--output", str(double), "--nproc", "2"], **cpu_only)
    _, err = process.communicate()
    assert process.returncode == 0, err.decode()[-3000:]
    one, two = read_metrics(single), read_metrics(double)
    # Same global batch of 4; only the float summation order differs (see the accumulation
    # test for the tolerances). The first gradient norm checks the cross-process averaging.
    assert one[0]["grad_norm"] == pytest.approx(two[0]["grad_norm"], rel=1e-5)
    assert [r["loss"] for r in one] == pytest.approx([r["loss"] for r in two], rel=1e-4)


def test_epochs_count_the_users_examples_so_augmentation_adds_no_steps(job, tmp_path):
    steps = {}
    for augment in (False, True):
        config = load_config(
            job(data={"augment": augment}, train={"max_steps": None, "epochs": 1.0})
        )
        result = train(config, tmp_path / f"run-{augment}")
        steps[augment] = result.record["steps"]
        items = result.record["data"]["train_items"]
        assert (items > 36) == augment  # 40 examples, 4 held out; variants added only if on
    assert steps[True] == steps[False] == 9  # ceil(36 / 4)


def test_run_record_and_progress_report_what_augmentation_generated(job, tmp_path, capsys):
    record = train_json(job(data={"augment": True}), tmp_path / "run", capsys)
    report = record["data"]["augmentation"]
    assert report["kept"] > 0 and sum(report["added"].values()) == report["added_total"]
    code = main(["train", str(job(data={"augment": True})), "--output", str(tmp_path / "run2")])
    assert code == 0
    assert "augmentation:" in capsys.readouterr().err


def test_a_run_with_answer_notes_keeps_them_beside_the_final_weights(notes_run):
    final = notes_run / "final" / "notes"
    assert (final / "notes.json").is_file() and (final / "notes.safetensors").is_file()
    record = json.loads((notes_run / "run.json").read_text())
    # 10 conversations (9 train, 1 validation), all searchable at inference.
    expected = {
        "notes": 10,
        "count": 2,
        "scope_guard": None,
        "retriever_epochs": 2,
        "train_order": "answer",
    }
    assert record["data"]["answer_notes"] == expected


def test_a_run_without_answer_notes_has_no_notes_folder(job, tmp_path, capsys):
    run_dir = tmp_path / "run"
    record = train_json(job(), run_dir, capsys)
    assert record["data"]["answer_notes"] is None
    assert not (run_dir / "final" / "notes").exists()


def test_training_with_notes_says_so_and_how_to_turn_them_off(job, tmp_path, capsys):
    notes = {"notes": {"enabled": True, "count": 2}}
    code = main(["train", str(job(data=notes)), "--output", str(tmp_path / "run")])
    assert code == 0
    err = capsys.readouterr().err
    assert "answer notes: 40 training answers, up to 2 shown" in err
    assert "data.notes.enabled=false" in err
