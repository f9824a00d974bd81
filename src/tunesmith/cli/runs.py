"""`tunesmith runs`: list, inspect and forget the runs in the run registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from tunesmith.cli.output import print_json, stderr, stdout

if TYPE_CHECKING:
    from tunesmith.store import RunRecord

app = typer.Typer(
    help="Training runs recorded in the run registry: list, inspect, forget.", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
RUN_ARGUMENT = typer.Argument(
    ..., help="Run id, unique id prefix, unique run name, or run folder path."
)
# Files a finished run folder holds; `runs show` says which are there.
RUN_FILES = ("run.json", "config.yaml", "metrics.jsonl", "checkpoints", "final", "loss.png")


@app.command("list")
def list_command(
    status: str | None = typer.Option(
        None,
        "--status",
        help="Only runs with this status: queued, running, succeeded, failed or cancelled.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Runs, newest first; a run whose folder was deleted or moved shows as missing."""
    from tunesmith.store import RunRegistry

    with RunRegistry() as registry:
        runs = registry.list_runs(status=status)
    if as_json:
        print_json([run.to_dict() for run in runs])
        return
    if not runs:
        stderr.print("No runs" + (f" with status {status}." if status else " yet."))
        return
    table = _list_table()
    for run in runs:
        table.add_row(
            escape(run.name) + ("" if run.id == run.name else f"\n[dim]{escape(run.id)}[/]"),
            "[yellow]missing[/]" if run.missing else run.status,
            run.method or "-",
            escape(run.model or "-"),
            _number(run.summary.get("steps")),
            _loss(run.summary.get("best_val_loss")),
            _duration(run.summary.get("wall_seconds")),
            (run.created_at or "-")[:16].replace("T", " "),
        )
    stdout.print(table)


@app.command("show")
def show_command(run: str = RUN_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """A run's registry record, updated from its run.json when the run folder still exists."""
    from tunesmith.store import RunRegistry

    with RunRegistry() as registry:
        record = registry.get_run(run)
    data = _merged_view(record)
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # hashes and paths in full, to copy
    for key, value in data.items():
        if key not in ("config", "summary", "run_json", "files"):
            table.add_row(key, _plain(value))
    for key, value in data["summary"].items():
        table.add_row(key, _plain(value))
    table.add_row("files", ", ".join(name for name, there in data["files"].items() if there))
    stdout.print(table)
    if record.missing:
        stderr.print(f"The run folder {escape(record.path)} no longer exists.")


@app.command("forget")
def forget_command(run: str = RUN_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Remove a run from the registry; its run folder and files are never deleted."""
    from tunesmith.store import RunRegistry

    with RunRegistry() as registry:
        record = registry.forget_run(run)
    if as_json:
        print_json(record.to_dict())
        return
    stderr.print(
        f"Forgot run {escape(record.name)} ({escape(record.id)}); "
        f"its files are untouched in {escape(record.path)}"
    )


def _merged_view(record: RunRecord) -> dict[str, Any]:
    """The registry record, with the summary refreshed from run.json (the trainer writes it
    more often than it updates the registry) and the full run.json under `run_json`."""
    from tunesmith.store import SUMMARY_KEYS

    data = record.to_dict()
    folder = Path(record.path)
    run_json = None if record.missing else _read_run_json_or_warn(folder)
    if run_json is not None:
        fresh = {key: run_json[key] for key in SUMMARY_KEYS if key in run_json}
        data["summary"] = {**data["summary"], **fresh}
        if run_json.get("status") not in (None, record.status):
            stderr.print(
                f"Note: run.json says {escape(str(run_json['status']))}, "
                f"the registry says {record.status}."
            )
    data["run_json"] = run_json
    data["files"] = {name: (folder / name).exists() for name in RUN_FILES}
    return data


def _read_run_json_or_warn(folder: Path) -> dict[str, Any] | None:
    """A damaged run.json must not hide what the registry knows: warn and show that."""
    from tunesmith.errors import TunesmithError
    from tunesmith.store import read_run_json

    try:
        return read_run_json(folder)
    except TunesmithError as exc:
        stderr.print(f"[yellow]warning:[/] {escape(str(exc))}; showing the registry record only")
        return None


def _list_table() -> Table:
    """Run ids are never cut (they are what `runs show` takes); other columns may wrap."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("method", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("steps", justify="right", no_wrap=True)
    table.add_column("best val", justify="right")
    table.add_column("wall", justify="right")
    table.add_column("created (UTC)")
    return table


def _plain(value: Any) -> str:
    return "-" if value is None else escape(str(value))


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _loss(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _duration(seconds: Any) -> str:
    """Wall time as 45.2s, 3m 12s or 1h 02m."""
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
