"""`tunesmith models`: list and describe the models tunesmith can load."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from tunesmith.cli.output import print_json, stderr, stdout

app = typer.Typer(
    help="List and inspect models (all local, never downloaded).", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")


@app.command("list")
def list_command(as_json: bool = JSON_OPTION) -> None:
    """Registered models, and models already in the local Hugging Face cache."""
    from tunesmith.models import list_models

    rows = list_models()
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    table = Table("name", "kind", "status", "description")
    for row in rows:
        table.add_row(row.name, row.kind, row.status, row.description)
    stdout.print(table)
    stdout.print(
        "Any local Hugging Face folder (config.json + *.safetensors) or .gguf file also works: "
        "pass its path as the model name."
    )


@app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Registered name, folder, .gguf file or cached hub id."),
    as_json: bool = JSON_OPTION,
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow Python code shipped with the model to run."
    ),
) -> None:
    """Architecture, size, context length and cache location of a model."""
    from tunesmith.models import model_info, resolve_source

    source = resolve_source(name)
    cache = source.cache_folder()
    started = time.perf_counter()
    if cache is not None and not cache.exists() and not as_json:
        with stderr.status(f"Converting {source.path.name} once (dequantizing GGUF) ..."):
            info = model_info(name, trust_remote_code=trust_remote_code)
    else:
        info = model_info(name, trust_remote_code=trust_remote_code)
    data = info.to_dict()
    data["resolve_seconds"] = round(time.perf_counter() - started, 3)
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False)
    for key, value in data.items():
        table.add_row(key, f"{value:,}" if key == "parameters" else str(value))
    stdout.print(table)
