"""`tunesmith config`: the config keys with their help, and validation of a config file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from tunesmith.cli.output import print_json, stdout

app = typer.Typer(help="Config files: every key explained, and checks.", no_args_is_help=True)


@app.command("fields")
def fields_command(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Every config key with its type, default and meaning."""
    from tunesmith.config import field_help

    rows = field_help()
    if as_json:
        print_json(rows)
        return
    table = Table("key", "type", "default", "meaning")
    for row in rows:
        table.add_row(row["key"], row["type"], row["default"], row["help"])
    stdout.print(table)


@app.command("check")
def check_command(
    path: Path | None = typer.Argument(None, help="YAML config file; omit for the defaults."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a key: --set train.lr=1e-4 (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved config as JSON."),
) -> None:
    """Validate a config file with overrides and print the resolved config."""
    import yaml

    from tunesmith.config import load_config

    config = load_config(path, overrides)
    data = config.model_dump(mode="json")
    if as_json:
        print_json(data)
    else:
        stdout.print(yaml.safe_dump(data, sort_keys=False).rstrip())
