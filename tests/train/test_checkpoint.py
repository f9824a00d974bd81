"""Checkpoints: exact resume, corruption detection, crash safety, pruning, no pickle."""

from __future__ import annotations

import errno
import json
import math
import os
import pickle
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from tunesmith.errors import TunesmithError
from tunesmith.train import checkpoint as ckpt
from tunesmith.train.checkpoint import (
    CheckpointError,
    CheckpointState,
    capture_rng,
    find_resumable,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)

FILES = (
    "trainable.safetensors",
    "optimizer.safetensors",
    "rng.safetensors",
    "state.json",
    "manifest.json",
)
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ),
]


# --------------------------------------------------------------------------- a tiny training run


class Run:
    """A small model with dropout, AdamW and a LambdaLR schedule; data drawn from the RNGs."""

    def __init__(self, *, init_seed: int, fused: bool = False, device: str = "cpu") -> None:
        torch.manual_seed(init_seed)
        self.device = device
        self.model = nn.Sequential(
            nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 4)
        ).to(device)
        self.model.train()
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=1e-2, weight_decay=0.1, fused=fused
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: 1.0 / (1.0 + step)
        )
        self.steps = 0

    def step(self) -> float:
        scale = 1.0 + random.random()  # python RNG: restored too
        x = (torch.randn(5, 8) * scale).to(self.device)
        y = torch.randn(5, 4).to(self.device)
        loss = nn.functional.mse_loss(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        self.steps += 1
        return loss.item()

    def state(self) -> CheckpointState:
        return CheckpointState(
            trainable={n: p.detach().float().cpu() for n, p in self.model.named_parameters()},
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            rng=capture_rng(),
            data={"epoch": 0, "batch_in_epoch": self.steps, "seed": 7},
            meta={"step": self.steps, "best_val_loss": None},
        )

    def restore(self, state: CheckpointState, *, rng: bool = True) -> None:
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, tensor in state.trainable.items():
                params[name].copy_(tensor)
        self.optimizer.load_state_dict(state.optimizer)
        self.scheduler.load_state_dict(state.scheduler)
        if rng:
            restore_rng(state.rng)

    def weights(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().cpu().clone() for n, p in self.model.named_parameters()}


def _seed(seed: int = 0) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _save_run(run_dir: Path, steps: int = 2, **kwargs) -> Path:
    run = Run(init_seed=0, **kwargs)
    for _ in range(steps):
        run.step()
    return save_checkpoint(run_dir, run.steps, run.state())


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _assert_state_equal(got, want, where="state") -> None:
    assert type(got) is type(want), f"{where}: {type(got)} != {type(want)}"
    if isinstance(want, torch.Tensor):
        assert got.dtype == want.dtype and got.shape == want.shape, where
        assert torch.equal(got.cpu(), want.cpu()), where
    elif isinstance(want, dict):
        assert list(got) == list(want), where
        for key in want:
            _assert_state_equal(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _assert_state_equal(a, b, f"{where}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), where
    else:
        assert got == want, where


# --------------------------------------------------------------------------- exact resume


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fused", [False, True], ids=["adamw", "adamw-fused"])
def test_resume_continues_bit_identically(tmp_path: Path, fused: bool, device: str) -> None:
    _seed()
    run = Run(init_seed=0, fused=fused, device=device)
    for _ in range(3):
        run.step()
    path = save_checkpoint(tmp_path, 3, run.state())
    uninterrupted = [run.step() for _ in range(3)]
    w1 = run.weights()

    _seed(99)  # a different RNG and different initial weights: all must come from the file
    resumed = Run(init_seed=123, fused=fused, device=device)
    resumed.restore(load_checkpoint(path))
    continued = [resumed.step() for _ in range(3)]
    w2 = resumed.weights()

    assert continued == uninterrupted
    assert all(torch.equal(w1[name], w2[name]) for name in w1)


def test_resume_without_rng_restore_diverges(tmp_path: Path) -> None:
    """The exact-resume test above would notice a missing RNG restore (dropout, data)."""
    _seed()
    run = Run(init_seed=0)
    run.step()
    path = save_checkpoint(tmp_path, 1, run.state())
    run.step()

    _seed(99)
    resumed = Run(init_seed=0)
    resumed.restore(load_checkpoint(path), rng=False)
    resumed.step()
    assert not torch.equal(run.weights()["0.weight"], resumed.weights()["0.weight"])


def test_optimizer_state_dict_round_trips_exactly(tmp_path: Path) -> None:
    run = Run(init_seed=0)
    run.step()
    saved = run.optimizer.state_dict()
    loaded = load_checkpoint(save_checkpoint(tmp_path, 1, run.state())).optimizer

    _assert_state_equal(loaded, saved)
    step = loaded["state"][0]["step"]
    assert step.dtype == torch.float32 and step.shape == ()
    assert isinstance(loaded["param_groups"][0]["betas"], tuple)


def test_scheduler_data_meta_and_rng_round_trip(tmp_path: Path) -> None:
    run = Run(init_seed=0)
    run.step()
    state = run.state()
    state.data = {"epoch": 2, "batch_in_epoch": 17, "samples_seen": 10**12, "order_seed": 3}
    state.meta = {
        "step": 1,
        "losses": [2.5, 1.25],
        "best_val_loss": float("inf"),
        "worst": float("-inf"),
        "missing": float("nan"),
        "by_step": {10: 0.5, 20: 0.25},
        "pair": (1, "a"),
        "__tuple__": "a key that looks like a tag",
    }
    loaded = load_checkpoint(save_checkpoint(tmp_path, 1, state))

    _assert_state_equal(loaded.scheduler, state.scheduler, "scheduler")
    _assert_state_equal(loaded.data, state.data, "data")
    _assert_state_equal(loaded.meta, state.meta, "meta")
    _assert_state_equal(loaded.rng, state.rng, "rng")
    _assert_state_equal(loaded.trainable, state.trainable, "trainable")


def test_restore_rng_accepts_json_lists() -> None:
    _seed(5)
    rng = capture_rng()
    expected = (random.random(), torch.rand(3))
    as_json = json.loads(
        json.dumps({"python": rng["python"], "torch": rng["torch"].tolist()})
    )  # tuples -> lists, tensor -> list of ints

    _seed(6)
    restore_rng(as_json)
    assert random.random() == expected[0]
    assert torch.equal(torch.rand(3), expected[1])


# --------------------------------------------------------------------------- the files


def test_checkpoint_folder_holds_only_safetensors_and_json(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    assert path == tmp_path / "checkpoints" / "step-00000002"
    assert sorted(p.name for p in path.iterdir()) == sorted(FILES)
    assert all(p.suffix in {".safetensors", ".json"} for p in path.iterdir())


def test_save_and_load_never_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "save", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_checkpoint(_save_run(tmp_path))


def test_tensor_files_are_standard_safetensors(tmp_path: Path) -> None:
    trainable = {
        "f32": torch.randn(3, 4),
        "bf16": torch.randn(5).bfloat16(),
        "f16": torch.randn(2, 2).half(),
        "i64": torch.arange(7),
        "u8": torch.arange(3, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "view": torch.arange(20.0).reshape(4, 5)[:, 1],  # not contiguous
    }
    state = CheckpointState(trainable=trainable, optimizer={}, scheduler={})
    path = save_checkpoint(tmp_path, 0, state)

    read = load_file(str(path / "trainable.safetensors"))
    _assert_state_equal(dict(sorted(read.items())), dict(sorted(trainable.items())))
    _assert_state_equal(load_checkpoint(path).trainable, trainable)


def test_optimizer_tensors_are_keyed_by_their_place(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    tensors = load_file(str(path / "optimizer.safetensors"))
    assert {"state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step"} <= set(tensors)
    assert tensors["state.0.step"].dtype == torch.float32


# --------------------------------------------------------------------------- damage detection


@pytest.mark.parametrize("name", FILES)
def test_flipped_byte_is_reported_naming_the_file(tmp_path: Path, name: str) -> None:
    path = _save_run(tmp_path)
    _flip_byte(path / name)
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        load_checkpoint(path)


def test_altered_manifest_is_reported_as_such(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["state.json"]["sha256"] = "0" * 64  # valid JSON, wrong content
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"manifest\.json is corrupted"):
        load_checkpoint(path)


def test_loaded_tensors_do_not_map_the_checkpoint_files(tmp_path: Path) -> None:
    """Pruning the checkpoint a run resumed from must free its disk space."""
    state = load_checkpoint(_save_run(tmp_path))
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc/self/maps")
    mapped = maps.read_text()
    assert state.optimizer["state"] and str(tmp_path) not in mapped  # state is still alive


def test_find_resumable_skips_corrupted_newest(tmp_path: Path) -> None:
    run = Run(init_seed=0)
    good = save_checkpoint(tmp_path, 100, run.state())
    bad = save_checkpoint(tmp_path, 200, run.state())
    _flip_byte(bad / "trainable.safetensors")

    path, skipped = find_resumable(tmp_path)
    assert path == good
    assert [p for p, _ in skipped] == [bad]
    assert "hash mismatch in trainable.safetensors" in skipped[0][1]


def test_find_resumable_without_checkpoints(tmp_path: Path) -> None:
    assert find_resumable(tmp_path) == (None, [])


def test_find_resumable_when_none_verifies(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    (path / "manifest.json").unlink()
    resumable, skipped = find_resumable(tmp_path)
    assert resumable is None
    assert [(p, "manifest.json is missing" in reason) for p, reason in skipped] == [(path, True)]


def test_truncated_file_is_detected(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    target = path / "optimizer.safetensors"
    os.truncate(target, target.stat().st_size - 10)
    with pytest.raises(CheckpointError, match=r"optimizer\.safetensors is truncated"):
        load_checkpoint(path)


def test_missing_manifest_is_detected(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    (path / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match=r"manifest\.json is missing"):
        load_checkpoint(path)


def test_missing_file_is_detected(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    (path / "rng.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"rng\.safetensors is missing"):
        load_checkpoint(path)


def test_damage_is_found_before_anything_is_deserialized(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save_run(tmp_path)
    _flip_byte(path / "state.json")
    monkeypatch.setattr(ckpt, "safe_open", lambda *a, **k: pytest.fail("deserialized"))
    with pytest.raises(CheckpointError, match=r"hash mismatch in state\.json"):
        load_checkpoint(path)


def test_checkpoint_error_is_a_tunesmith_error_with_reason(tmp_path: Path) -> None:
    path = _save_run(tmp_path)
    (path / "rng.safetensors").unlink()
    with pytest.raises(TunesmithError) as caught:
        load_checkpoint(path)
    assert isinstance(caught.value, CheckpointError)
    assert caught.value.path == path
    assert caught.value.reason == "rng.safetensors is missing"
    assert str(path) in caught.value.message


# --------------------------------------------------------------------------- crash safety


def _disk_full_after(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """Every write beyond `budget` bytes in total writes what fits, then fails with ENOSPC."""
    real_write = ckpt._HashingWriter.write
    left = [budget]

    def write(self, data) -> None:
        view = memoryview(data).cast("B")
        if view.nbytes > left[0]:
            real_write(self, view[: left[0]])
            left[0] = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        left[0] -= view.nbytes
        real_write(self, view)

    monkeypatch.setattr(ckpt._HashingWriter, "write", write)


def test_disk_full_during_save_keeps_earlier_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(init_seed=0)
    earlier = save_checkpoint(tmp_path, 1, run.state())
    run.step()
    _disk_full_after(monkeypatch, budget=1000)  # inside optimizer.safetensors

    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(tmp_path, 2, run.state())
    message = str(caught.value)
    assert "no space left on device while saving checkpoint step 2" in message
    assert "earlier checkpoints are intact" in message
    assert list((tmp_path / "checkpoints").iterdir()) == [earlier]
    assert find_resumable(tmp_path) == (earlier, [])


def test_failed_resave_of_a_step_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(init_seed=0)
    path = save_checkpoint(tmp_path, 5, run.state())
    before = load_checkpoint(path).trainable
    run.step()
    _disk_full_after(monkeypatch, budget=0)

    with pytest.raises(CheckpointError, match="no space left on device"):
        save_checkpoint(tmp_path, 5, run.state())
    _assert_state_equal(load_checkpoint(path).trainable, before)
    assert list((tmp_path / "checkpoints").iterdir()) == [path]


def test_resave_of_a_step_replaces_the_folder(tmp_path: Path) -> None:
    run = Run(init_seed=0)
    path = save_checkpoint(tmp_path, 5, run.state())
    run.step()
    assert save_checkpoint(tmp_path, 5, run.state()) == path
    _assert_state_equal(load_checkpoint(path).trainable, run.state().trainable)
    assert list((tmp_path / "checkpoints").iterdir()) == [path]


def test_stale_tmp_folders_are_ignored_then_cleaned_by_next_save(tmp_path: Path) -> None:
    run = Run(init_seed=0)
    good = save_checkpoint(tmp_path, 1, run.state())
    stale = tmp_path / "checkpoints" / ".tmp-step-00000002-deadbeef"
    stale.mkdir()
    (stale / "trainable.safetensors").write_bytes(b"half a file")

    assert list_checkpoints(tmp_path) == [good]
    assert find_resumable(tmp_path) == (good, [])
    save_checkpoint(tmp_path, 3, run.state())
    assert not stale.exists()


def test_unsavable_value_fails_before_writing(tmp_path: Path) -> None:
    state = Run(init_seed=0).state()
    state.meta = {"loss": torch.tensor(1.5)}
    with pytest.raises(CheckpointError, match=r"meta\['loss'\].*\.item\(\)"):
        save_checkpoint(tmp_path, 1, state)
    assert not (tmp_path / "checkpoints").exists()


# --------------------------------------------------------------------------- listing and pruning


def test_list_checkpoints_sorts_by_step_and_ignores_other_entries(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    for name in ("step-00000010", "step-100000000", "step-00000009", ".tmp-step-00000011-x"):
        (root / name).mkdir(parents=True)
    (root / "best.safetensors").write_bytes(b"")
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step-00000009", "step-00000010", "step-100000000"]


def test_prune_keeps_newest_and_protected(tmp_path: Path) -> None:
    state = Run(init_seed=0).state()
    paths = [save_checkpoint(tmp_path, step, state) for step in range(1, 6)]
    deleted = prune_checkpoints(tmp_path, keep=2, protect={paths[0]})
    assert deleted == paths[1:3]
    assert list_checkpoints(tmp_path) == [paths[0], paths[3], paths[4]]
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "checkpoints").iterdir())


def test_save_with_keep_prunes_older_checkpoints(tmp_path: Path) -> None:
    state = Run(init_seed=0).state()
    for step in range(1, 5):
        save_checkpoint(tmp_path, step, state, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000003", "step-00000004"]


def test_save_with_keep_never_deletes_the_new_checkpoint(tmp_path: Path) -> None:
    """After resuming from an older step, the checkpoint just written is kept."""
    state = Run(init_seed=0).state()
    save_checkpoint(tmp_path, 200, state)
    new = save_checkpoint(tmp_path, 150, state, keep=1)
    assert new in list_checkpoints(tmp_path)
