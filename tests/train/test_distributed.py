"""Process-group set-up: one GPU per process where GPUs are visible."""

from __future__ import annotations

import pytest
import torch

from tunesmith.cli.main import main
from tunesmith.config import load_config
from tunesmith.errors import TunesmithError, UsageError
from tunesmith.train import distributed, loop


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the machine shows exactly one CUDA device (checked before any CUDA call)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_more_processes_than_gpus_is_refused_with_the_fix(one_gpu) -> None:
    with pytest.raises(UsageError) as caught:
        distributed.check_gpu_count(2)
    assert "need 2 GPUs" in str(caught.value)
    assert "--nproc 1" in caught.value.hint
    assert "CUDA_VISIBLE_DEVICES" in caught.value.hint


def test_one_process_per_gpu_is_accepted(one_gpu) -> None:
    distributed.check_gpu_count(1)


def test_torchrun_rank_without_a_gpu_fails_before_touching_cuda(one_gpu, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(UsageError, match="need 2 GPUs"):
        distributed.init_distributed()


def test_train_nproc_beyond_the_gpus_exits_2_before_launching(one_gpu, tmp_path, capsys) -> None:
    config = tmp_path / "job.yaml"
    config.write_text("data:\n  train: train.jsonl\n")
    assert main(["train", str(config), "--nproc", "2", "--output", str(tmp_path / "run")]) == 2
    assert "need 2 GPUs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.fixture
def shutdowns(monkeypatch: pytest.MonkeyPatch) -> list[distributed.DistContext]:
    """The contexts `train` releases its process group for, in order."""
    calls: list[distributed.DistContext] = []
    monkeypatch.setattr(loop, "shutdown", calls.append)
    return calls


def test_train_releases_the_process_group_when_it_ends(job, tmp_path, shutdowns) -> None:
    # A torchrun rank that exits with the gloo group alive can abort in its teardown
    # ("terminate called without an active exception"), failing a run that succeeded.
    loop.train(load_config(job()), tmp_path / "run")
    assert len(shutdowns) == 1


def test_train_releases_the_process_group_when_it_fails(job, tmp_path, shutdowns) -> None:
    config = load_config(job(data={"train": str(tmp_path / "missing.jsonl")}))
    with pytest.raises(TunesmithError):
        loop.train(config, tmp_path / "run")
    assert len(shutdowns) == 1


def test_leaving_a_broken_process_group_does_not_replace_the_runs_outcome(monkeypatch) -> None:
    def peer_gone() -> None:
        raise RuntimeError("Connection closed by peer")

    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "destroy_process_group", peer_gone)
    cpu = torch.device("cpu")
    context = distributed.DistContext(rank=0, world_size=2, local_rank=0, device=cpu)
    distributed.shutdown(context)  # returns: the run's own result or error stands
