"""Batched greedy generation for chat conversations.

Prompts are rendered with the model's own chat template, sorted by length and decoded in
left-padded batches with the KV cache, which is far faster on a CPU than one `generate` call
per question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunesmith.models.loader import stop_token_ids

Message = dict[str, str]


@dataclass
class Reply:
    """One generated answer."""

    text: str
    stopped: bool  # ended with an end-of-turn token before the token cap
    new_tokens: int


def render_prompt(tokenizer: Any, messages: list[Message]) -> str:
    """The conversation rendered by the chat template, ready for the assistant's turn."""
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def chat_replies(
    model: Any,
    tokenizer: Any,
    conversations: list[list[Message]],
    *,
    max_new_tokens: int = 128,
    batch_size: int = 16,
) -> list[Reply]:
    """Greedy replies to each conversation, in input order."""
    prompts = [render_prompt(tokenizer, messages) for messages in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: list[Reply | None] = [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = _generate_batch(model, tokenizer, [prompts[i] for i in chunk], max_new_tokens)
        for index, reply in zip(chunk, batch, strict=True):
            replies[index] = reply
    return [reply for reply in replies if reply is not None]


def _generate_batch(
    model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int
) -> list[Reply]:
    import torch

    tokenizer.padding_side = "left"
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    encoded = encoded.to(model.device)
    stops = stop_token_ids(model, tokenizer)
    with torch.inference_mode():
        output = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=tokenizer.pad_token_id,
        )
    new_tokens = output[:, encoded["input_ids"].shape[1] :].tolist()
    return [_to_reply(tokenizer, tokens, stops) for tokens in new_tokens]


def _to_reply(tokenizer: Any, tokens: list[int], stops: list[int]) -> Reply:
    end = next((i for i, token in enumerate(tokens) if token in stops), None)
    kept = tokens if end is None else tokens[:end]
    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
    return Reply(text=text, stopped=end is not None, new_tokens=len(kept))
