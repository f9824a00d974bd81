"""`tunesmith demo`: the main job on the embedded default model.

For now it loads the default model and answers a few sample questions; training, evaluation
and the method comparison join it as those parts land.
"""

from __future__ import annotations

import time

import typer

from tunesmith.cli.output import print_json, stderr, stdout
from tunesmith.config import DEFAULT_MODEL

SAMPLE_QUESTIONS = (
    "What is the capital of France?",
    "Name three things to pack for a day hike.",
    "In one sentence, what is fine-tuning a language model?",
)


def demo(
    model: str = typer.Option(DEFAULT_MODEL, "--model", help="Model to run the demo on."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, max=2048),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Load the default model and answer a few sample questions."""
    from tunesmith.eval.generation import chat_replies
    from tunesmith.models import load_model

    started = time.perf_counter()
    with stderr.status(f"Loading {model} (the first use converts it once) ..."):
        loaded = load_model(model)
    load_seconds = time.perf_counter() - started
    conversations = [[{"role": "user", "content": q}] for q in SAMPLE_QUESTIONS]
    started = time.perf_counter()
    with stderr.status("Answering sample questions ..."):
        replies = chat_replies(
            loaded.model, loaded.tokenizer, conversations, max_new_tokens=max_new_tokens
        )
    answer_seconds = time.perf_counter() - started
    answers = [
        {"question": q, "answer": r.text, "stopped": r.stopped, "tokens": r.new_tokens}
        for q, r in zip(SAMPLE_QUESTIONS, replies, strict=True)
    ]
    if as_json:
        print_json(
            {
                "model": loaded.source.name,
                "folder": str(loaded.folder),
                "load_seconds": round(load_seconds, 2),
                "answer_seconds": round(answer_seconds, 2),
                "answers": answers,
            }
        )
        return
    stdout.print(f"[bold]{loaded.source.name}[/] loaded in {load_seconds:.1f} s\n")
    for item in answers:
        stdout.print(f"[bold cyan]Q:[/] {item['question']}")
        cut = "" if item["stopped"] else f" [dim](cut at {item['tokens']} tokens)[/]"
        stdout.print(f"[bold green]A:[/] {item['answer']}{cut}\n")
    stdout.print(f"[dim]answered {len(answers)} questions in {answer_seconds:.1f} s[/]")
