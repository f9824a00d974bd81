"""`tunesmith serve`: an OpenAI-compatible server for a base model and its tuned runs."""

from __future__ import annotations

import typer

from tunesmith.cli.output import NO_NOTES_HELP, stderr
from tunesmith.errors import UsageError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def serve_command(
    model: str = typer.Option(
        "smollm2-135m-instruct",
        "--model",
        help="Base model: registered name, local folder, .gguf file or cached hub id.",
    ),
    runs: list[str] = typer.Option(
        [],
        "--run",
        help="Serve a finished run as NAME=RUN_DIR (repeatable). LoRA runs of the base model "
        "share it in memory; freeze and full runs load as their own model.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; only this machine by default."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="TUNESMITH_API_KEY",
        help="Require 'Authorization: Bearer KEY' on every route but /health, and enable the "
        "admin routes. Prefer the environment variable: a flag shows in the process list.",
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow a non-loopback --host without an API key."
    ),
    max_queue: int = typer.Option(
        64, "--max-queue", min=0, help="Requests that may wait per model; more get 429."
    ),
    max_batch: int = typer.Option(
        8, "--max-batch", min=1, help="Sequences decoded together per model."
    ),
    served_name: str | None = typer.Option(
        None, "--served-name", help="Name clients use for the base model (default: its name)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    dtype: str = typer.Option(
        "auto", "--dtype", help="auto (float32 on CPU, bfloat16 on capable GPUs), float32, ..."
    ),
    no_notes: bool = typer.Option(False, "--no-notes", help=NO_NOTES_HELP),
) -> None:
    """Serve models over an OpenAI-compatible HTTP API (chat, completions, streaming)."""
    from tunesmith.serve import ModelRegistry, ServerSettings, check_bind, create_app, serve_forever

    named_runs = [_parse_run(value) for value in runs]
    if dtype not in DTYPES:
        raise UsageError(f"--dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    check_bind(host, api_key, insecure)  # before loading anything: fail fast
    with stderr.status(f"Loading {model} ..."):
        registry = ModelRegistry(
            model,
            name=served_name,
            device=_device(device),
            dtype=dtype,
            max_batch=max_batch,
            max_queue=max_queue,
            notes=not no_notes,
        )
        try:
            for name, path in named_runs:
                registry.add_run(name, path)
        except BaseException:
            registry.close()
            raise
    names = ", ".join(served.name for served in registry.models())
    stderr.print(f"Serving {names} on http://{_url_host(host)}:{port}/v1")
    if not api_key:
        stderr.print("[dim]No API key: admin routes (/admin/runs) are disabled.[/]")
    try:
        serve_forever(create_app(registry, ServerSettings(api_key=api_key)), host, port)
    finally:
        registry.close()


def _parse_run(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise UsageError(
            f"--run {value!r} is not NAME=RUN_DIR", hint="for example --run support=runs/lora-1"
        )
    return name, path


def _device(choice: str) -> str:
    if choice != "auto":
        return choice
    from tunesmith.models import inference_device

    return inference_device()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
