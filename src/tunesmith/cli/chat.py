"""`tunesmith chat` and `tunesmith generate`: talk to a base model or a tuned run."""

from __future__ import annotations

import time
from typing import Any

import typer

from tunesmith.cli.output import NO_NOTES_HELP, print_json, stderr, stdout

MODEL_ARGUMENT = typer.Argument(
    ..., help="A run folder or run name (see `tunesmith runs list`), or a model name or path."
)
MAX_TOKENS_OPTION = typer.Option(256, "--max-new-tokens", min=1, max=8192, help="Token cap.")
SYSTEM_OPTION = typer.Option(None, "--system", help="System prompt for the conversation.")
NO_NOTES_OPTION = typer.Option(False, "--no-notes", help=NO_NOTES_HELP)


def _load(ref: str, *, notes: bool = True) -> tuple[Any, Any, str, Any]:
    """Model, tokenizer, a label, and the run's answer notes (None for a plain model)."""
    from tunesmith.models import inference_device
    from tunesmith.train.artifacts import load_run_or_model

    with stderr.status(f"Loading {ref} ..."):
        loaded = load_run_or_model(ref, device=inference_device(), with_notes=notes)
    label = getattr(loaded, "method", None) or "base model"
    index = getattr(loaded, "notes", None)
    if index is not None:
        label += f", {index.count} answer notes per question"
    return loaded.model, loaded.tokenizer, label, index


def _with_notes(messages: list[dict[str, str]], notes: Any) -> tuple[list[dict[str, str]], list]:
    """The messages as shown to the model (with the run's closest notes), and those notes."""
    from tunesmith.data.notes import as_dicts, as_messages, with_notes

    if notes is None:
        return messages, []
    typed = as_messages(messages)
    texts = notes.find(typed)
    return as_dicts(with_notes(typed, texts)), texts


def generate_command(
    ref: str = MODEL_ARGUMENT,
    prompt: str = typer.Option(..., "--prompt", "-p", help="The user message."),
    system: str | None = SYSTEM_OPTION,
    max_new_tokens: int = MAX_TOKENS_OPTION,
    no_notes: bool = NO_NOTES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Answer one prompt (greedy decoding, the default for factual answers)."""
    from tunesmith.eval.generation import chat_replies

    model, tokenizer, label, notes = _load(ref, notes=not no_notes)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    started = time.perf_counter()
    shown, texts = _with_notes(messages, notes)
    (reply,) = chat_replies(model, tokenizer, [shown], max_new_tokens=max_new_tokens)
    seconds = time.perf_counter() - started
    if as_json:
        print_json(
            {
                "model": ref,
                "kind": label,
                "prompt": prompt,
                "notes": texts,
                "answer": reply.text,
                "stopped": reply.stopped,
                "tokens": reply.new_tokens,
                "seconds": round(seconds, 3),
            }
        )
        return
    stdout.print(reply.text)


def chat_command(
    ref: str = MODEL_ARGUMENT,
    system: str | None = SYSTEM_OPTION,
    max_new_tokens: int = MAX_TOKENS_OPTION,
    no_notes: bool = NO_NOTES_OPTION,
) -> None:
    """Interactive chat that streams tokens and keeps the conversation (/reset, /exit)."""
    model, tokenizer, label, notes = _load(ref, notes=not no_notes)
    stderr.print(f"Chatting with {ref} ({label}). /reset starts over, /exit quits.")
    history = _fresh(system)
    while True:
        try:
            text = stdout.input("[bold cyan]you>[/] ").strip()
        except (EOFError, KeyboardInterrupt):
            stdout.print()
            return
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            history = _fresh(system)
            stderr.print("[dim]conversation cleared[/]")
            continue
        if not text:
            continue
        history.append({"role": "user", "content": text})
        shown, _ = _with_notes(history, notes)
        answer = _stream_reply(model, tokenizer, shown, max_new_tokens)
        history.append({"role": "assistant", "content": answer})


def _fresh(system: str | None) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}] if system else []


def _stream_reply(model: Any, tokenizer: Any, history: list[dict], max_new_tokens: int) -> str:
    """Print tokens as they are generated (a generation thread feeds a streamer)."""
    import threading

    import torch
    from transformers import TextIteratorStreamer

    from tunesmith.eval.generation import render_prompt
    from tunesmith.models.loader import stop_token_ids

    encoded = tokenizer(render_prompt(tokenizer, history), return_tensors="pt",
                        add_special_tokens=False).to(model.device)  # fmt: skip
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = dict(
        **encoded,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=stop_token_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        streamer=streamer,
    )
    worker = threading.Thread(target=lambda: _generate(model, kwargs, torch))
    worker.start()
    pieces = []
    stdout.print("[bold green]bot>[/] ", end="")
    for piece in streamer:
        pieces.append(piece)
        stdout.print(piece, end="", markup=False, highlight=False)
    worker.join()
    stdout.print()
    return "".join(pieces).strip()


def _generate(model: Any, kwargs: dict, torch: Any) -> None:
    with torch.inference_mode():
        model.generate(**kwargs)
