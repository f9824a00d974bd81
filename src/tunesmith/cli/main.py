"""Entry point: `tunesmith [--version] [--debug] COMMAND ...`."""

from __future__ import annotations

import os

# Before torch loads OpenMP: idle worker threads spin only briefly, then sleep. Measured on 2
# cores, LoRA step of the default model: spinning without limit (the default) made each decode
# step 10x slower when another job shared the cores; never spinning (OMP_WAIT_POLICY=PASSIVE)
# made a quiet machine's training step 1.3x slower (3.3 s vs 2.5 s); 10,000 spins keeps the
# quiet-machine speed (2.6 s). A value the user set wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import sys
import warnings

import typer

from tunesmith import __version__
from tunesmith.cli import chat as chat_cmd
from tunesmith.cli import config_cmd, demo, eval_cmd, models, runs
from tunesmith.cli import data as data_cmd
from tunesmith.cli import serve as serve_cmd
from tunesmith.cli import train as train_cmd
from tunesmith.cli.output import print_error, stderr
from tunesmith.errors import TunesmithError

app = typer.Typer(
    name="tunesmith",
    help="Fine-tune open LLMs on your company's data, locally: data, train, evaluate, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(models.app, name="models")
app.add_typer(config_cmd.app, name="config")
app.add_typer(data_cmd.app, name="data")
app.add_typer(runs.app, name="runs")
app.command("train")(train_cmd.train_command)
app.command("eval")(eval_cmd.eval_command)
app.command("compare")(eval_cmd.compare_command)
app.command("generate")(chat_cmd.generate_command)
app.command("chat")(chat_cmd.chat_command)
app.command("demo")(demo.demo)
app.command("serve")(serve_cmd.serve_command)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"tunesmith {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """tunesmith: local fine-tuning for company data."""


def _quiet_libraries() -> None:
    """No network and no library chatter: tunesmith works offline and prints its own progress."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Deprecation notices from transformers/peft internals are for their developers, not ours.
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 failure, 2 usage error)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("TUNESMITH_DEBUG") == "1"
    _quiet_libraries()
    try:
        app(args=args, prog_name="tunesmith", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TunesmithError as exc:
        if debug:
            raise
        print_error(exc)
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        stderr.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {exc}\n"
            "[dim]hint:[/] run again with --debug for the traceback, and report it"
        )
        return 1
    return 0


def run() -> None:
    """Console-script entry point (with mimalloc preloaded where installed: tunesmith.allocator)."""
    from tunesmith.allocator import reexec_with_mimalloc

    reexec_with_mimalloc()
    sys.exit(main())


if __name__ == "__main__":
    run()
