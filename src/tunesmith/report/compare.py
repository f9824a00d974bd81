"""The table that decides between methods, measured on the user's own model and data.

Inputs are run folders: `run.json` (cost: parameters, memory, time), `metrics.jsonl` (speed,
loss curve), `final/` (what must be stored or shipped) and `eval.json` (written by
`tunesmith eval`: domain score and general score, each next to the base model's).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import UsageError

EVAL_FILE = "eval.json"


@dataclass
class RunRow:
    """One run's line in the comparison."""

    run: str
    path: str
    method: str
    trainable_parameters: int | None
    trainable_share: float | None
    peak_memory_mb: float | None
    wall_seconds: float | None
    tokens_per_second: float | None
    stored_mb: float | None
    domain_score: float | None
    domain_gain: float | None
    general_score: float | None
    forgetting: float | None
    stop_rate: float | None
    verdict: str = ""
    curve: list[tuple[int, float]] = field(default_factory=list, repr=False)
    val_curve: list[tuple[int, float]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("curve")
        data.pop("val_curve")
        return data


def read_run_row(run_dir: Path) -> RunRow:
    """Collect one run's figures from its folder."""
    run_json = run_dir / "run.json"
    if not run_json.is_file():
        raise UsageError(f"{run_dir} is not a run folder (no run.json)", hint="check the path")
    record = json.loads(run_json.read_text(encoding="utf-8"))
    metrics = _metrics(run_dir)
    evaluation = _evaluation(run_dir)
    domain, base_domain = evaluation.get("domain", {}), evaluation.get("base_domain", {})
    general, base_general = evaluation.get("general", {}), evaluation.get("base_general", {})
    return RunRow(
        run=record.get("name", run_dir.name),
        path=str(run_dir),
        method=record.get("method", "?"),
        trainable_parameters=record.get("trainable_parameters"),
        trainable_share=record.get("trainable_share"),
        peak_memory_mb=record.get("peak_memory_mb"),
        wall_seconds=record.get("wall_seconds"),
        tokens_per_second=_median_speed(metrics),
        stored_mb=_folder_mb(run_dir / "final"),
        domain_score=domain.get("key_fact_recall"),
        domain_gain=_delta(domain.get("key_fact_recall"), base_domain.get("key_fact_recall")),
        general_score=general.get("score"),
        forgetting=_delta(base_general.get("score"), general.get("score")),
        stop_rate=domain.get("stop_rate"),
        curve=[(m["step"], m["loss"]) for m in metrics],
        val_curve=[(m["step"], m["val_loss"]) for m in metrics if m.get("val_loss") is not None],
    )


def compare_runs(run_dirs: list[Path]) -> list[RunRow]:
    """Rows for every run, each with a one-line verdict derived from the numbers."""
    if not run_dirs:
        raise UsageError("name at least one run folder to compare")
    rows = [read_run_row(path) for path in run_dirs]
    for row in rows:
        row.verdict = verdict(row, rows)
    return rows


def verdict(row: RunRow, rows: list[RunRow]) -> str:
    """What this run is best for, from the measured numbers only."""
    wins = []
    if _is_best(row, rows, "domain_score", high=True):
        wins.append("most domain knowledge")
    if _is_best(row, rows, "forgetting", high=False):
        wins.append("keeps general skills best")
    if _is_best(row, rows, "wall_seconds", high=False):
        wins.append("fastest to train")
    if _is_best(row, rows, "stored_mb", high=False):
        wins.append("smallest to ship")
    if _is_best(row, rows, "peak_memory_mb", high=False):
        wins.append("least memory")
    warnings = []
    if row.stop_rate is not None and row.stop_rate < 0.9:
        warnings.append(f"rambles: stops only {row.stop_rate:.0%} of the time")
    if row.domain_gain is not None and row.domain_gain <= 0:
        warnings.append("no domain gain over the base model")
    if row.forgetting is not None and row.forgetting > 0.02:
        warnings.append(f"forgets {row.forgetting * 100:.1f} points of general skill")
    text = "best for: " + ", ".join(wins) if wins else "not best on any measure"
    return "; ".join([text, *warnings])


def comparison_markdown(rows: list[RunRow]) -> str:
    """The comparison as a Markdown table."""
    header = (
        "| run | method | trainable | peak memory | train time | tokens/s | stored | "
        "domain (key-fact recall) | domain gain | general | forgetting | stop rate | verdict |"
    )
    lines = [header, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r.run} | {r.method} | {_count(r.trainable_parameters)} ({_pct(r.trainable_share)})"
            f" | {_num(r.peak_memory_mb, ' MB')} | {_num(r.wall_seconds, ' s')}"
            f" | {_num(r.tokens_per_second)} | {_num(r.stored_mb, ' MB', 1)}"
            f" | {_pct(r.domain_score)} | {_pts(r.domain_gain)} | {_pct(r.general_score)}"
            f" | {_pts(r.forgetting)} | {_pct(r.stop_rate)} | {r.verdict} |"
        )
    return "\n".join(lines) + "\n"


def _is_best(row: RunRow, rows: list[RunRow], key: str, *, high: bool) -> bool:
    values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
    mine = getattr(row, key)
    if mine is None or len(values) < 2:
        return False
    return mine == (max(values) if high else min(values))


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _evaluation(run_dir: Path) -> dict[str, Any]:
    path = run_dir / EVAL_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _median_speed(metrics: list[dict[str, Any]]) -> float | None:
    # The first step includes warm-up (allocations, thread start-up); leave it out.
    speeds = [m["tokens_per_second"] for m in metrics[1:] if m.get("tokens_per_second")]
    return round(statistics.median(speeds), 1) if speeds else None


def _folder_mb(folder: Path) -> float | None:
    if not folder.is_dir():
        return None
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024**2, 2)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e5 else f"{value:,}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _pts(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"


def _num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"
