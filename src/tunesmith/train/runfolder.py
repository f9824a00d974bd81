"""The run folder: everything needed to reproduce and use a run.

    config.yaml    the full resolved config
    run.json       status, times, hashes, parameter counts, peak memory, tokens seen
    metrics.jsonl  one line per logged step (loss, lr, grad norm, tokens/s, validation loss)
    checkpoints/   resumable states (see train/checkpoint.py)
    final/         the result: PEFT adapter (lora), trained tensors (freeze), model (full)
    loss.png       training and validation loss

Status follows one state machine: queued -> running -> succeeded | failed | cancelled, and a
failed or cancelled run may go back to running when resumed.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from tunesmith.config import TunesmithConfig, save_config, validate_config
from tunesmith.errors import TunesmithError, UsageError
from tunesmith.store import TRANSITIONS


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_name(method: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{method}"


class RunFolder:
    """Reads and writes one run folder; only the main process writes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def final_dir(self) -> Path:
        return self.path / "final"

    def exists(self) -> bool:
        return self.run_json.is_file()

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TunesmithError(f"{self.run_json}: cannot read the run record ({exc})") from None

    def config(self) -> TunesmithConfig:
        path = self.path / "config.yaml"
        if not path.is_file():
            raise UsageError(
                f"{self.path} has no config.yaml", hint="is it a tunesmith run folder?"
            )
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return validate_config(raw, source=str(path))

    def create(self, config: TunesmithConfig, record: dict[str, Any]) -> None:
        """Start a new run here; refuse a folder that already holds something else."""
        if self.path.exists() and any(self.path.iterdir()):
            if self.exists():
                raise UsageError(
                    f"{self.path} already holds run {self.read().get('name')!r}",
                    hint=f"resume it with `tunesmith train --resume {self.path}`, or choose "
                    "another --output / output.name",
                )
            raise UsageError(
                f"{self.path} is not empty and is not a run folder",
                hint="choose an empty or new folder for the run",
            )
        self.path.mkdir(parents=True, exist_ok=True)
        save_config(config, self.path / "config.yaml")
        self.write({**record, "status": "queued", "created_at": utc_now()})

    def write(self, record: dict[str, Any]) -> None:
        """Replace run.json atomically (temporary file, then rename)."""
        temporary = self.run_json.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        os.replace(temporary, self.run_json)

    def update(self, **fields: Any) -> dict[str, Any]:
        record = self.read()
        status = fields.get("status")
        if status and status != record.get("status"):
            allowed = TRANSITIONS.get(record.get("status", "queued"), set())
            if status not in allowed:
                raise TunesmithError(
                    f"run {record.get('name')!r} cannot go from {record.get('status')} to {status}"
                )
        record.update(fields)
        self.write(record)
        return record

    def append_metrics(self, row: dict[str, Any]) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def truncate_metrics_after(self, step: int) -> None:
        """On resume, drop rows logged after the checkpoint so the curve has no duplicates."""
        kept = [row for row in self.metrics() if row.get("step", 0) <= step]
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
