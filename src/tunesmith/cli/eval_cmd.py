"""`tunesmith eval` and `tunesmith compare`: what a run learned and forgot, methods side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from tunesmith.cli.output import NO_NOTES_HELP, print_json, stderr, stdout


def eval_command(
    ref: str = typer.Argument(..., help="A run (folder or name) or a model (name or path)."),
    domain: Path | None = typer.Option(
        None,
        "--domain",
        help="Evaluation file (question, reference, key facts); a run's data.eval by default.",
    ),
    glossary: Path | None = typer.Option(None, "--glossary", help="Glossary YAML for terminology."),
    general: list[Path] = typer.Option(
        [], "--general", help="Extra general benchmark files (repeatable); default suite if none."
    ),
    limit: int | None = typer.Option(
        200, "--limit", min=1, help="Items per general benchmark (deterministic sample)."
    ),
    no_general: bool = typer.Option(False, "--no-general", help="Skip the general benchmarks."),
    no_base: bool = typer.Option(False, "--no-base", help="Do not score the base model."),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", min=1, max=4096),
    no_notes: bool = typer.Option(False, "--no-notes", help=NO_NOTES_HELP),
    rerank_weight: float | None = typer.Option(
        None,
        "--rerank-weight",
        min=0,
        max=10,
        help="Weight of the base model's query likelihood when ordering a run's notes; "
        "the run's data.notes.rerank_weight by default, 0 for the embedding alone.",
    ),
    no_scope_guard: bool = typer.Option(
        False,
        "--no-scope-guard",
        help="Show every question its closest notes, even one the run's scope guard would "
        "decline (to measure what the guard adds).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Score domain knowledge and general skills; for a run, also its base model and deltas."""
    from tunesmith.eval.runner import evaluate_target

    with stderr.status("evaluating ...") as spinner:
        result = evaluate_target(
            ref,
            domain_path=domain,
            glossary_path=glossary,
            general_paths=general or None,
            general_limit=limit,
            skip_general=no_general,
            with_base=not no_base,
            max_new_tokens=max_new_tokens,
            use_notes=not no_notes,
            rerank_weight=rerank_weight,
            scope_guard=not no_scope_guard,
            status=lambda message: spinner.update(f"{message} ..."),
        )
    if as_json:
        print_json(result)
        return
    stdout.print(_scores_table(result))


def compare_command(
    runs: list[Path] = typer.Argument(..., help="Run folders to compare (evaluate them first)."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for comparison.md, comparison.json and report.html."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """The table that decides between methods: cost, speed, size, gain, forgetting, verdict."""
    from tunesmith.report.compare import compare_runs, comparison_markdown
    from tunesmith.report.html import write_report

    rows = compare_runs(runs)
    written = write_report(rows, out) if out else {}
    if as_json:
        print_json({"runs": [row.to_dict() for row in rows], "files": written})
        return
    stdout.print(comparison_markdown(rows))
    for path in written.values():
        stderr.print(f"wrote {path}")


DOMAIN_ROWS = (
    "key_fact_recall",
    "all_facts_accuracy",
    "similarity",
    "redirect_rate",
    "adherence",
    "banned_term_rate",
    "stop_rate",
    "val_loss",
    "token_accuracy",
)


def _scores_table(result: dict[str, Any]) -> Table:
    table = Table("metric", "model", "base", "change", title=f"evaluation of {result['target']}")
    domain, base = result.get("domain", {}), result.get("base_domain", {})
    for key in DOMAIN_ROWS:
        if key in domain:
            table.add_row(
                key, _fmt(domain[key]), _fmt(base.get(key)), _change(domain[key], base.get(key))
            )
    general, base_general = result.get("general", {}), result.get("base_general", {})
    for name, value in general.get("benchmarks", {}).items():
        before = base_general.get("benchmarks", {}).get(name)
        table.add_row(f"general: {name}", _fmt(value), _fmt(before), _change(value, before))
    if "score" in general:
        table.add_row("general: mean", _fmt(general["score"]), _fmt(base_general.get("score")),
                      _change(general["score"], base_general.get("score")))  # fmt: skip
    return table


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _change(value: Any, base: Any) -> str:
    if not isinstance(value, (int, float)) or not isinstance(base, (int, float)):
        return ""
    return f"{value - base:+.3f}"
