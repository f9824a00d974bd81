"""`tunesmith chat` and `tunesmith generate`: talk to a base model or a tuned run."""

from __future__ import annotations

import time
from typing import Any

import typer

from tunesmith.cli.output import print_json, stderr, stdout

MODEL_ARGUMENT = typer.Argument(
    ..., help="A run folder or run name (see `tunesmith runs list`), or a model name or path."
)
MAX_TOKENS_OPTION = typer.Option(256, "--max-new-tokens", min=1, max=8192, help="Token cap.")
SYSTEM_OPTION = typer.Option(None, "--system", help="System prompt for the conversation.")


def _load(ref: str) -> tuple[Any, Any, str]:
    from tunesmith.models import inference_device
    from tunesmith.train.artifacts import load_run_or_model

    with stderr.status(f"Loading {ref} ..."):
        loaded = load_run_or_model(ref, device=inference_device())
    label = getattr(loaded, "method", None) or "base model"
    return loaded.model, loaded.tokenizer, label


def generate_command(
    ref: str = MODEL_ARGUMENT,
    prompt: str = typer.Option(..., "--prompt", "-p", help="The user message."),
    system: str | None = SYSTEM_OPTION,
    max_new_tokens: int = MAX_TOKENS_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Answer one prompt (greedy decoding, the default for factual answers)."""
    from tunesmith.eval.generation import chat_replies

    model, tokenizer, label = _load(ref)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    started = time.perf_counter()
    (reply,) = chat_replies(model, tokenizer, [messages], max_new_tokens=max_new_tokens)
    seconds = time.perf_counter() - started
    if as_json:
        print_json(
            {
                "model": ref,
                "kind": label,
                "prompt": prompt,
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
) -> None:
    """Interactive chat that streams tokens and keeps the conversation (/reset, /exit)."""
    model, tokenizer, label = _load(ref)
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
        answer = _stream_reply(model, tokenizer, history, max_new_tokens)
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
