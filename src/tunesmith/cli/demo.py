"""`tunesmith demo`: the main job, end to end, on the embedded default model.

Validate the sample company's data, train LoRA, freeze and full with a short budget, evaluate
each against the base model (what it learned, what it forgot), print the comparison, write the
report, and show held-out questions answered by the base model and by the best run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from tunesmith.cli.output import print_json, stderr, stdout
from tunesmith.config import DEFAULT_MODEL
from tunesmith.errors import DataError, UsageError

METHODS = ("lora", "freeze", "full")
# A short budget per method. Freeze is tunesmith's default recipe (the last third of the blocks
# at lr 1e-3, with answer notes) and gets about two passes over the data; LoRA and full get what
# is left, at rates that move them in few steps. Answer notes make each example about 2.5 times
# longer, hence fewer steps than before notes (120 / 40 / 16); the demo takes about 17 minutes
# on 2 CPU cores with these (docs/evaluation.md).
STEPS = {"lora": 30, "freeze": 90, "full": 12}
LEARNING_RATES = {"lora": 1e-3, "freeze": None, "full": 5e-5}
GENERAL_PROMPT = "The capital of France is"


def demo(
    example: Path = typer.Option(
        Path("examples/northpeak"),
        "--example",
        help="Sample company folder (train, eval, glossary).",
    ),
    model: str = typer.Option(DEFAULT_MODEL, "--model", help="Base model."),
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Where runs and the report go."),
    methods: list[str] = typer.Option(list(METHODS), "--method", help="Methods to compare."),
    scale: float = typer.Option(
        1.0, "--scale", min=0.01, max=20.0, help="Multiply the training budget (steps)."
    ),
    general_limit: int = typer.Option(100, "--general-limit", min=1, help="Items per benchmark."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate, train three methods, evaluate against the base, compare, show answers."""
    started = time.perf_counter()
    files = _example_files(example)
    _validate(files)
    run_dirs = []
    for method in methods:
        if method not in METHODS:
            raise UsageError(f"--method {method!r}: choose from {', '.join(METHODS)}")
        run_dirs.append(_train(method, model, files, out, scale))
    results = {path: _evaluate(path, general_limit) for path in run_dirs}
    summary = _compare(run_dirs, out / "report", show=not as_json)
    best = max(run_dirs, key=lambda p: results[p].get("domain", {}).get("key_fact_recall", -1))
    samples = _sample_answers(results[best], n=3)
    general_check = _general_check(best)
    seconds = round(time.perf_counter() - started, 1)
    if as_json:
        print_json({"seconds": seconds, "best": str(best), "comparison": summary,
                    "samples": samples, "general_check": general_check})  # fmt: skip
        return
    _show_samples(best, samples)
    stdout.print(
        f"\n[bold]General knowledge kept?[/] (plain text, outside the chat) "
        f"{general_check['prompt']} ..."
    )
    stdout.print(f"[bold]base:[/] {general_check['base']}")
    stdout.print(f"[bold green]{best.name}:[/] {general_check['answer']}")
    stdout.print(f"\n[bold]demo finished in {seconds / 60:.1f} min[/]; report: {out / 'report'}")


def _example_files(example: Path) -> dict[str, Path]:
    files = {name: example / f"{name}.{ext}" for name, ext in
             (("train", "jsonl"), ("eval", "jsonl"), ("glossary", "yaml"))}  # fmt: skip
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise UsageError(
            f"sample data not found: {', '.join(missing)}",
            hint="run the demo from the repository root, or pass --example FOLDER",
        )
    return files


def _validate(files: dict[str, Path]) -> None:
    from tunesmith.data.validate import check_file

    with stderr.status("Validating the sample dataset ..."):
        report = check_file(files["train"], eval_path=files["eval"])
    if not report.ok:
        raise DataError(
            f"{files['train']}: {len(report.errors)} errors; run `tunesmith data check`"
        )
    stderr.print(f"[green]data ok[/]: {files['train']} ({len(report.warnings)} warnings)")


def _train(method: str, model: str, files: dict[str, Path], out: Path, scale: float) -> Path:
    from tunesmith.config import validate_config

    run_dir = out / method
    if (run_dir / "final" / "method.json").is_file():
        stderr.print(f"[dim]{method}: reusing the finished run in {run_dir}[/]")
        return run_dir
    steps = max(2, round(STEPS[method] * scale))
    config = validate_config(
        {
            "model": {"name": model},
            "data": {
                "train": str(files["train"]),
                "eval": str(files["eval"]),
                "glossary": str(files["glossary"]),
                "validation_share": 0.05,
            },
            "method": {"name": method},
            "train": {
                "max_steps": steps,
                "lr": LEARNING_RATES[method],  # None: the method's default
                "eval_every": steps,
                "save_every": steps,
                "warmup_ratio": 0.1,
            },
            "output": {"dir": str(out), "name": method},
        },
        source="demo",
    )
    if run_dir.exists():  # an unfinished earlier demo run: start it again
        import shutil

        shutil.rmtree(run_dir)
    record = _train_in_child(method, steps, config, run_dir)
    stderr.print(f"[green]{method}[/]: {steps} steps in {record['wall_seconds']} s")
    return run_dir


def _train_in_child(method: str, steps: int, config: Any, run_dir: Path) -> dict[str, Any]:
    """`tunesmith train` in its own process, so each run's peak memory is its own."""
    import subprocess
    import sys
    import tempfile

    from tunesmith.config import save_config
    from tunesmith.errors import TunesmithError

    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile("w+") as log:
        config_path = Path(folder) / f"{method}.yaml"
        save_config(config, config_path)
        command = [sys.executable, "-m", "tunesmith.cli.main", "train", str(config_path),
                   "-o", str(run_dir), "--events", "-q"]  # fmt: skip
        with stderr.status(f"Training {method} ({steps} steps) ...") as spinner:
            # stderr goes to a file: a full pipe would block the child while we read stdout.
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
            end: dict[str, Any] = {}
            for line in process.stdout or ():
                event = _event(line)
                if event.get("event") == "step":
                    spinner.update(
                        f"Training {method}: step {event['step']}/{event['total_steps']}, "
                        f"loss {event['loss']:.3f}, {event['tokens_per_second']:.0f} tok/s"
                    )
                elif event.get("event") == "end":
                    end = event
            code = process.wait()
        log.seek(0)
        errors = log.read()
    if code != 0 or end.get("status") != "succeeded":
        raise TunesmithError(f"training {method} failed (exit {code}): {errors.strip()[-2000:]}")
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def _event(line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return event if isinstance(event, dict) else {}


def _evaluate(run_dir: Path, general_limit: int) -> dict[str, Any]:
    from tunesmith.eval.runner import evaluate_target

    with stderr.status(f"Evaluating {run_dir.name} against the base model ...") as spinner:
        result = evaluate_target(
            str(run_dir),
            general_limit=general_limit,
            status=lambda message: spinner.update(f"{run_dir.name}: {message} ..."),
        )
    recall = result.get("domain", {}).get("key_fact_recall")
    base = result.get("base_domain", {}).get("key_fact_recall")
    stderr.print(f"[green]{run_dir.name}[/]: key-fact recall {recall:.1%} (base {base:.1%})")
    return result


def _compare(run_dirs: list[Path], report_dir: Path, *, show: bool) -> list[dict[str, Any]]:
    from tunesmith.report.compare import compare_runs, comparison_markdown
    from tunesmith.report.html import write_report

    rows = compare_runs(run_dirs)
    write_report(rows, report_dir, title="tunesmith demo: LoRA vs freeze vs full")
    if show:
        title = "Method comparison (domain = key-fact recall on held-out questions)"
        stdout.print(f"\n[bold]{title}[/]\n")
        stdout.print(comparison_markdown(rows), markup=False)
    return [row.to_dict() for row in rows]


def _sample_answers(result: dict[str, Any], n: int) -> list[dict[str, Any]]:
    tuned = [i for i in result.get("domain_items", []) if not i.get("out_of_scope")]
    base = {i["id"]: i for i in result.get("base_domain_items", [])}
    picked = tuned[:: max(1, len(tuned) // n)][:n]
    return [
        {
            "question": item["question"],
            "base": base.get(item["id"], {}).get("answer"),
            "tuned": item["answer"],
            "key_facts": item.get("key_facts"),
        }
        for item in picked
    ]


def _general_check(best: Path) -> dict[str, str]:
    """Plain-text knowledge, base vs the best run.

    Asked as plain text, not in the chat: a company assistant is trained to decline off-topic
    chat questions (the sample data teaches it to), which says nothing about what it still knows.
    """
    from tunesmith.models import inference_device, load_model
    from tunesmith.train.artifacts import load_run

    device = inference_device()
    run = load_run(best, device=device)
    base = load_model(run.config.model, device=device)
    return {
        "prompt": GENERAL_PROMPT,
        "base": _complete(base.model, base.tokenizer, GENERAL_PROMPT),
        "answer": _complete(run.model, run.tokenizer, GENERAL_PROMPT),
    }


def _complete(model: Any, tokenizer: Any, prompt: str) -> str:
    import torch

    encoded = tokenizer(prompt, return_tensors="pt").to(model.device)
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=12, do_sample=False,
                                pad_token_id=tokenizer.eos_token_id)  # fmt: skip
    new = output[0, encoded["input_ids"].shape[1] :]
    return tokenizer.decode(new, skip_special_tokens=True).strip()


def _show_samples(best: Path, samples: list[dict[str, Any]]) -> None:
    stdout.print(f"\n[bold]Held-out questions: base model vs best run ({best.name})[/]")
    for sample in samples:
        stdout.print(f"\n[bold cyan]Q:[/] {sample['question']}")
        stdout.print(f"[dim]key facts: {json.dumps(sample['key_facts'])}[/]")
        stdout.print(f"[bold]base:[/] {sample['base']}")
        stdout.print(f"[bold green]{best.name}:[/] {sample['tuned']}")
