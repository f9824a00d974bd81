"""Printing for the CLI: results to stdout (tables or JSON), messages and errors to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from tunesmith.errors import TunesmithError

NO_NOTES_HELP = (
    "Answer without the run's answer notes (the closest training answers, shown in the system "
    "prompt by default when the run was trained with them)."
)

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_error(exc: TunesmithError) -> None:
    """One line: what went wrong, then how to fix it."""
    message = f"[bold red]error:[/] {_escape(exc.message)}"
    if exc.hint:
        message += f"\n[dim]hint:[/] {_escape(exc.hint)}"
    stderr.print(message)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
