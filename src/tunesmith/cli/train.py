"""`tunesmith train`: fine-tune with full, freeze or LoRA; resume; several processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from tunesmith.cli.output import print_json, stderr, stdout
from tunesmith.errors import UsageError


def train_command(
    config_path: Path | None = typer.Argument(
        None, help="YAML config (see `tunesmith config fields`); not needed with --resume."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override any config key: --set train.lr=1e-4 (repeatable)."
    ),
    method: str | None = typer.Option(None, "--method", help="full, freeze or lora."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Run folder to create (default: output.dir/<timestamp>)."
    ),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this folder from its newest valid checkpoint."
    ),
    nproc: int = typer.Option(
        1, "--nproc", min=1, max=1024, help="Processes on this machine (torchrun, DDP)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    events: bool = typer.Option(
        False, "--events", help="Print JSON-lines events (start, step, eval, end) on stdout."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final run record as JSON."),
) -> None:
    """Fine-tune a model on your data and write a run folder."""
    from tunesmith.config import load_config

    if resume is None and config_path is None:
        raise UsageError("give a config file, or --resume RUN_DIR", hint="tunesmith train job.yaml")
    if resume is not None and (config_path or overrides or method):
        raise UsageError(
            "--resume continues a run with its saved config; do not pass a config or overrides"
        )
    if resume is not None and not (resume / "run.json").is_file():
        raise UsageError(f"{resume} is not a run folder (no run.json)", hint="check the path")
    config = None
    if resume is None:
        config = load_config(config_path, [*overrides, *([f"method.name={method}"] * bool(method))])
    if nproc > 1:
        from tunesmith.train.distributed import check_gpu_count

        check_gpu_count(nproc)
        raise typer.Exit(_launch_torchrun(nproc, config_path, overrides, method, output, resume))
    _run(config, output, resume, quiet=quiet or as_json, events=events, as_json=as_json)


def _run(config, output, resume, *, quiet: bool, events: bool, as_json: bool) -> None:
    from tunesmith.train.loop import train

    is_main = int(os.environ.get("RANK", "0")) == 0
    reporter = _Reporter(quiet=quiet or not is_main, events=events and is_main)
    with reporter:
        result = train(config, run_dir=resume or output, resume=resume is not None,
                       on_event=reporter)  # fmt: skip
    if not is_main:
        return
    if as_json:
        print_json(result.record)
    elif not events:
        record = result.record
        stdout.print(
            f"[bold green]{record.get('status')}[/] {record.get('steps')} steps in "
            f"{record.get('wall_seconds')} s, final loss {record.get('final_train_loss'):.4f}, "
            f"best validation loss {record.get('best_val_loss')}\nrun folder: {result.run_dir}"
        )


def _launch_torchrun(nproc, config_path, overrides, method, output, resume) -> int:
    """Run this same command under torchrun with N processes on this machine."""
    from tunesmith.config import load_config
    from tunesmith.train.runfolder import new_run_name

    if resume is None and output is None:
        config = load_config(config_path, overrides)
        output = config.output.dir / (
            config.output.name or new_run_name(method or config.method.name)
        )
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "tunesmith.train"]  # fmt: skip
    if resume is not None:
        args += ["--resume", str(resume)]
    else:
        args += [str(config_path), "--output", str(output)]
        args += [item for pair in (("--set", o) for o in overrides) for item in pair]
        args += ["--method", method] if method else []
    return subprocess.call(args)


class _Reporter:
    """Turns training events into a rich progress bar, JSON lines, or nothing."""

    def __init__(self, *, quiet: bool, events: bool) -> None:
        self.quiet, self.events = quiet, events
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _Reporter:
        if not self.quiet and not self.events:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=stderr,
            )  # fmt: skip
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        if self.events:
            sys.stdout.write(json.dumps(event, default=str) + "\n")
            sys.stdout.flush()
        if self.progress is None:
            return
        kind = event["event"]
        if kind == "start":
            self.task = self.progress.add_task(
                "train", total=event["total_steps"], completed=event["step"], info=""
            )
            self.progress.console.print(
                f"{event['method']}: {event['trainable_parameters']:,} trainable parameters, "
                f"{event['precision']}, peak lr {event['lr']:g} -> {event['run_dir']}"
            )
            if event.get("augmentation"):
                self.progress.console.print(augmentation_line(event["augmentation"]))
            if event.get("out_of_scope"):
                self.progress.console.print(out_of_scope_line(event["out_of_scope"]))
            if event.get("replay"):
                self.progress.console.print(replay_line(event["replay"]))
            if event.get("answer_notes"):
                self.progress.console.print(notes_line(event["answer_notes"]))
        elif kind == "step" and self.task is not None:
            info = f"loss {event['loss']:.4f}  {event['tokens_per_second']:,.0f} tok/s"
            self.progress.update(self.task, completed=event["step"], info=info)
        elif kind == "eval":
            self.progress.console.print(
                f"step {event['step']}: validation loss {event['val_loss']}"
            )
        elif kind == "replay":
            self.progress.console.print(
                f"replay: sampling {event['samples']} texts from the base model (cached after)"
            )
        elif kind in ("warning", "resume"):
            self.progress.console.print(f"[yellow]{event.get('message') or event}[/]")


def replay_line(report: dict[str, Any]) -> str:
    """One line on the base model's own samples mixed in (train.replay.share=0 turns it off)."""
    learnt = (
        f"its top-{report['top_k']} next-token probabilities learnt"
        if report.get("targets") == "distribution"
        else "its sampled tokens learnt"
    )
    return (
        f"replay: {report['samples']} samples of the base model's own text "
        f"({report['tokens']:,} tokens, {report['share']:.0%} of examples, {learnt}) against "
        "forgetting; train.replay.share=0 turns it off"
    )


def notes_line(report: dict[str, Any]) -> str:
    """One line on the answer notes (`data.notes.enabled=false` turns them off), and one on
    their scope guard when the data has redirect answers."""
    line = (
        f"answer notes: {report['notes']:,} training answers, up to {report['count']} shown "
        "with each question while training and at inference; data.notes.enabled=false turns "
        "them off"
    )
    if report.get("retriever_epochs"):
        line += (
            f"\nnotes retriever: the embedding model tuned ({report['retriever_epochs']} "
            f"pass{'es' if report['retriever_epochs'] > 1 else ''}) on "
            "the training questions against their answers finds them; "
            "data.notes.retriever_epochs=0 uses the base model"
        )
    if report.get("train_order") == "answer":
        line += (
            "\nnotes in training: the note closest to the example's own answer first, so the "
            "model learns to rely on its first note; data.notes.train_order=question orders "
            "them as at inference"
        )
    guard = report.get("scope_guard")
    if not guard:
        return line
    return (
        f"{line}\nscope guard: questions closer to the data's {guard['declined_questions']:,} "
        f"declined questions or {guard['general_questions']:,} general ones outside its scope "
        "than to any answered one are shown the data's redirect answers; "
        "data.notes.scope_guard=false turns it off"
    )


def out_of_scope_line(report: dict[str, Any]) -> str:
    """One line on the out-of-scope questions added (`data.out_of_scope.enabled=false`)."""
    if not report["redirect_answers"]:
        return (
            "out-of-scope questions: none added, the training data has no redirect answers to "
            "pair them with (add a few exchanges that decline off-topic questions)"
        )
    return (
        f"out-of-scope questions: {report.get('kept', report['added'])} general questions "
        f"answered with the data's {report['redirect_answers']} redirect answers "
        f"({report['outside_scope']} of {report['candidates']} lie outside the data's scope); "
        "data.out_of_scope.enabled=false turns them off"
    )


def augmentation_line(report: dict[str, Any]) -> str:
    """One line on what augmentation generated (`data.augment: false` turns it off)."""
    kinds = ", ".join(f"{kind} {count}" for kind, count in report["added"].items())
    dropped = report.get("dropped_overlong", 0) + report.get("dropped_eval_overlap", 0)
    return (
        f"augmentation: {report.get('kept', report['added_total'])} variants of "
        f"{report['source_examples']} examples ({kinds}); {dropped} left out "
        "(too long or matching an evaluation question); data.augment=false turns it off"
    )
