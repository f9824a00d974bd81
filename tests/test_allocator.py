"""The process allocator: mimalloc preloaded by the CLI where installed, never changing results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith import allocator
from tunesmith.allocator import OPTIONS, REEXEC_MARK, SWITCH, preload_env

LIB = Path("/opt/lib/libmimalloc.so")
linux_x86 = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the mimalloc wheel is a Linux x86-64 dependency",
)


@pytest.fixture
def on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.sys, "platform", "linux")


def test_preload_puts_mimalloc_first_and_keeps_the_users_preloads(on_linux) -> None:
    env = preload_env({"LD_PRELOAD": "/x/libuser.so", "HOME": "/h"}, LIB)
    assert env == {**OPTIONS, "LD_PRELOAD": f"{LIB}:/x/libuser.so", "HOME": "/h"}


def test_preload_never_purges_freed_memory_unless_the_user_says_otherwise(on_linux) -> None:
    assert preload_env({}, LIB)["MIMALLOC_PURGE_DELAY"] == "-1"
    assert preload_env({"MIMALLOC_PURGE_DELAY": "50"}, LIB)["MIMALLOC_PURGE_DELAY"] == "50"


def test_system_switch_keeps_the_system_allocator(on_linux) -> None:
    assert preload_env({SWITCH: "system"}, LIB) is None


def test_nothing_changes_when_already_preloaded_or_not_installed(on_linux) -> None:
    assert preload_env({"LD_PRELOAD": str(LIB)}, LIB) is None
    assert preload_env({}, None) is None


def test_nothing_changes_outside_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert preload_env({}, LIB) is None


@linux_x86
def test_mimalloc_is_installed_with_tunesmith() -> None:
    library = allocator.mimalloc_library()
    assert library is not None and library.is_file()


def _fresh_env(**extra: str) -> dict[str, str]:
    """This environment without any allocator setting inherited from a tunesmith process."""
    inherited = (SWITCH, REEXEC_MARK, "LD_PRELOAD", *OPTIONS)
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    return {**env, **extra}


def _allocator_of_a_cli_process(extra_env: dict[str, str]) -> str:
    # `-c` keeps the command line the re-exec repeats; the child reports its own mappings.
    code = (
        "from tunesmith.allocator import reexec_with_mimalloc, active_allocator\n"
        "reexec_with_mimalloc()\n"
        "print(active_allocator())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_fresh_env(**extra_env), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@linux_x86
def test_entry_point_reexecutes_once_with_mimalloc() -> None:
    assert _allocator_of_a_cli_process({}) == "mimalloc"


@linux_x86
def test_entry_point_keeps_the_system_allocator_when_asked() -> None:
    assert _allocator_of_a_cli_process({SWITCH: "system"}) == "system"


@linux_x86
def test_training_results_are_identical_with_either_allocator(job, tmp_path) -> None:
    config = job(train={"max_steps": 4, "batch_size": 4, "eval_every": 2})
    records, losses = {}, {}
    for name in ("mimalloc", "system"):
        run_dir = tmp_path / name
        env = _fresh_env(**{SWITCH: name})
        command = [sys.executable, "-m", "tunesmith.cli.main", "train", str(config),
                   "--output", str(run_dir), "--quiet"]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        records[name] = json.loads((run_dir / "run.json").read_text())
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        losses[name] = [(row["loss"], row.get("val_loss")) for row in map(json.loads, lines)]
    assert records["mimalloc"]["allocator"] == "mimalloc"
    assert records["system"]["allocator"] == "system"
    assert records["mimalloc"]["allocator_options"] == OPTIONS
    assert records["system"]["allocator_options"] == {}
    assert losses["mimalloc"] == losses["system"]
