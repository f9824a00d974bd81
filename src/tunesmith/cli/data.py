"""`tunesmith data`: check, scan, redact and prepare training data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from tunesmith.cli.output import print_json, stderr, stdout
from tunesmith.config import DEFAULT_MODEL
from tunesmith.errors import UsageError

app = typer.Typer(
    help="Check, scan, redact and prepare training data (formats: see docs/data.md).",
    no_args_is_help=True,
)

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")
MODEL_OPTION = typer.Option(
    DEFAULT_MODEL,
    "--model",
    "-m",
    help="Model whose tokenizer and chat template count the tokens (name, folder or .gguf).",
)
# The printed problem list stops here; --json always has every problem.
MAX_PRINTED_PROBLEMS = 50


@app.command("check")
def check_command(
    file: Path = typer.Argument(..., help="Training data: a file, or a folder of .txt/.md."),
    model: str = MODEL_OPTION,
    fmt: str = typer.Option(
        "auto",
        "--format",
        "-f",
        help="Data format: auto, openai, alpaca, sharegpt, csv, text or eval.",
    ),
    max_length: int | None = typer.Option(
        None,
        "--max-length",
        min=1,
        help="Token limit per example; default: the model's context length.",
    ),
    overlong: str = typer.Option(
        "error",
        "--overlong",
        help="What training does with longer examples: error (report them as errors), "
        "truncate or drop (count them as warnings).",
    ),
    eval_file: Path | None = typer.Option(
        None,
        "--eval",
        help="Evaluation file (tunesmith eval JSONL or any chat format) to check for "
        "questions that leaked into the training data.",
    ),
    train_on: str = typer.Option(
        "assistant", "--train-on", help="Which turns carry loss: assistant, last or all."
    ),
    min_examples: int = typer.Option(
        10, "--min-examples", min=0, help="Fewer usable examples than this is an error."
    ),
    question_column: str | None = typer.Option(
        None, "--question-column", help="CSV/TSV question column (default: question, prompt...)."
    ),
    answer_column: str | None = typer.Option(
        None, "--answer-column", help="CSV/TSV answer column (default: answer, response, ...)."
    ),
    system_prompt: str | None = typer.Option(
        None, "--system-prompt", help="System prompt added to chat examples that have none."
    ),
    no_stats: bool = typer.Option(
        False, "--no-stats", help="Skip tokenization: no token statistics, no length check."
    ),
    no_near: bool = typer.Option(
        False,
        "--no-near-duplicates",
        help="Skip the near-duplicate search (saves about 0.2 KB of memory per example).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate a data file: every problem with its line, duplicates, leaks, token statistics.

    Exits 1 when there are errors, 0 otherwise (warnings do not fail the check).
    """
    from tunesmith.data.readers import detect_format
    from tunesmith.data.validate import check_file

    _require_file(file)
    if eval_file is not None:
        _require_file(eval_file, "evaluation file")
    if fmt == "auto":
        fmt = detect_format(file)  # before loading a model: an unreadable file fails fast
    tokenizer, context = (None, None) if no_stats else _tokenizer_and_context(model, as_json)
    report = check_file(
        file,
        fmt=fmt,
        tokenizer=tokenizer,
        max_length=max_length or context,
        overlong=overlong,
        eval_path=eval_file,
        min_examples=min_examples,
        train_on=train_on,
        near_duplicates=not no_near,
        question_column=question_column,
        answer_column=answer_column,
        system_prompt=system_prompt,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("scan")
def scan_command(
    file: Path = typer.Argument(..., help="File to scan for personal data and secrets."),
    fail_on_findings: bool = typer.Option(
        False, "--fail-on-findings", help="Exit 1 when anything is found (for CI)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Find e-mails, phone numbers, card numbers, IBANs, SSNs, IP addresses and secrets.

    Values are never printed: only a masked preview and where they are.
    """
    from tunesmith.data.privacy import scan_file, scan_summary

    _require_file(file)
    findings = list(scan_file(file))
    summary = scan_summary(findings)
    if as_json:
        print_json(
            {
                "path": str(file),
                "total": len(findings),
                "summary": summary,
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        _print_findings(file, findings, summary)
    if fail_on_findings and findings:
        raise typer.Exit(code=1)


@app.command("redact")
def redact_command(
    file: Path = typer.Argument(..., help="File to redact (it is never modified)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the redacted copy."),
    report: Path | None = typer.Option(
        None, "--report", help="Also write the redaction report here as JSON."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the output file if it exists."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a copy with personal data and secrets replaced by placeholders ([EMAIL_1], ...)."""
    from tunesmith.data.privacy import redact_file

    _require_file(file)
    try:
        result = redact_file(file, output, report, overwrite=overwrite)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc), hint="choose another --output, or pass --overwrite") from None
    if as_json:
        print_json(result.to_dict())
        return
    table = Table("kind", "replaced", "distinct values")
    for kind, count in result.counts.items():
        if count:
            table.add_row(kind, str(count), str(result.distinct.get(kind, 0)))
    if table.row_count:
        stdout.print(table)
    total = sum(result.counts.values())
    stdout.print(
        f"Wrote {escape(str(output))}: {total} values replaced on {result.lines_changed} lines."
    )


@app.command("prepare")
def prepare_command(
    source: Path = typer.Argument(
        ..., help="A job config (.yaml) whose data section says what to prepare, or a data file."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model whose tokenizer and chat template are used; default: the config's model.",
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a config key, e.g. --set data.max_length=512 (repeatable)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Tokenize, label and pack the data the way training will, and summarize the result."""
    from tunesmith.config import load_config
    from tunesmith.data.prepare import prepare_dataset

    _require_file(source, "config or data file")
    if source.is_file() and source.suffix.lower() in (".yaml", ".yml"):
        config = load_config(source, overrides)
    else:
        config = load_config(None, overrides)
        config.data.train = source
    if config.data.train is None:
        raise UsageError(f"{source}: the config has no data.train", hint="set data.train")
    model_id = model or config.model.name
    tokenizer, context = _tokenizer_and_context(model_id, as_json)
    prepared = prepare_dataset(config.data, tokenizer, model_id=model_id, context_length=context)
    summary = prepared.summary()
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False)
    for key, value in summary.items():
        table.add_row(key, _fmt(value))
    stdout.print(table)


# --- helpers --------------------------------------------------------------------------------


def _require_file(path: Path, what: str = "data file") -> None:
    if not path.exists():
        raise UsageError(f"{what} {path} does not exist", hint="check the path")


def _tokenizer_and_context(model: str, quiet: bool) -> tuple[Any, int | None]:
    """The model's tokenizer (converting a GGUF once if needed) and its context length."""
    from tunesmith.models import load_tokenizer, model_folder, resolve_source
    from tunesmith.models.info import CONTEXT_KEYS
    from tunesmith.models.safety import read_model_config

    source = resolve_source(model)
    cache = source.cache_folder()
    if cache is not None and not cache.exists() and not quiet:
        with stderr.status(f"Converting {source.path.name} once (dequantizing GGUF) ..."):
            folder = model_folder(source)
    else:
        folder = model_folder(source)
    config = read_model_config(folder)
    context = next((config[k] for k in CONTEXT_KEYS if isinstance(config.get(k), int)), None)
    return load_tokenizer(folder), context


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _print_report(report: Any) -> None:
    data = report.to_dict()
    stdout.print(
        f"[bold]{escape(report.path)}[/]: format {report.format}, {report.records:,} records, "
        f"{report.examples:,} examples, {report.usable:,} usable"
    )
    if report.problems:
        _print_problems(report.problems, report.path)
    if report.stats:
        _print_stats(report.stats, report.usable, report.examples)
    if report.eval:
        ev = report.eval
        stdout.print(
            f"Evaluation {escape(ev['path'])}: {ev['items']} items, {ev['exact_leaks']} also in "
            f"training, {ev['near_leaks']} nearly (similarity >= {ev['threshold']})"
        )
    verdict = "[green]OK[/]" if report.ok else "[bold red]FAILED[/]"
    stdout.print(f"{verdict}: {data['errors']} errors, {data['warnings']} warnings")


def _print_problems(problems: list[Any], path: str) -> None:
    table = Table("severity", "where")
    table.add_column("code", no_wrap=True)
    table.add_column("problem and fix")
    for p in problems[:MAX_PRINTED_PROBLEMS]:
        where = "" if p.line is None else str(p.line)
        if p.column is not None:
            where += f":{p.column}"
        if p.file and p.file != path:  # the evaluation file
            where = f"{Path(p.file).name}:{where}" if where else Path(p.file).name
        color = "red" if p.severity == "error" else "yellow"
        text = escape(p.message) + (f"\n[dim]fix: {escape(p.fix)}[/]" if p.fix else "")
        table.add_row(f"[{color}]{p.severity}[/]", where or "file", p.code, text)
    stdout.print(table)
    rest = len(problems) - MAX_PRINTED_PROBLEMS
    if rest > 0:
        stdout.print(f"... and {rest:,} more problems (--json lists all of them)")


def _print_stats(stats: dict[str, Any], usable: int, examples: int) -> None:
    per = stats["tokens_per_example"]
    over = stats["overlong"]
    table = Table("statistic", "value", title="Tokens (after the chat template)")
    rows = [
        ("examples", examples),
        ("usable examples", usable),
        ("total tokens", stats["total_tokens"]),
        ("trained tokens", stats["trained_tokens"]),
        ("tokens per example (min / mean / p95 / max)", _per_example(per)),
        ("length limit", stats["max_length"] if stats["max_length"] else "none"),
        ("fit the limit", stats["fit"]),
        (f"overlong (policy {over['policy']})", over["count"]),
    ]
    for name, value in rows:
        table.add_row(name, _fmt(value))
    stdout.print(table)


def _per_example(per: dict[str, Any]) -> str:
    return " / ".join("-" if per[k] is None else str(per[k]) for k in ("min", "mean", "p95", "max"))


def _print_findings(path: Path, findings: list[Any], summary: dict[str, int]) -> None:
    if findings:
        table = Table("line", "column", "kind", "preview")
        for f in findings[:MAX_PRINTED_PROBLEMS]:
            table.add_row(str(f.line), str(f.column), f.kind, escape(f.preview))
        stdout.print(table)
        rest = len(findings) - MAX_PRINTED_PROBLEMS
        if rest > 0:
            stdout.print(f"... and {rest:,} more findings (--json lists all of them)")
    counts = ", ".join(f"{kind} {n}" for kind, n in summary.items() if n) or "nothing found"
    stdout.print(f"{escape(str(path))}: {len(findings)} findings ({counts})")
