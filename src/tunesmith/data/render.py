"""Render examples with the model's own chat template and label what the model should learn.

A conversation is rendered once with `tokenizer.apply_chat_template` and tokenized once, so the
training text is exactly what the model sees at inference. Which characters are trained is found
per assistant turn by rendering the conversation up to that turn with a sentinel in place of the
answer: the text before the sentinel is the turn's header (`<|im_start|>assistant\\n`), the text
after it is the turn's tail (`<|im_end|>\\n`). The trained span is the answer plus the tail up to
its last non-space character, so the end-of-turn token is learned and the newline after it is
not. This works for any template, with or without `{% generation %}` markers. Characters map to
tokens through the fast tokenizer's offsets; a token overlapping a trained character is trained.

The first label of every example is ignored: nothing precedes the first token, so it is never
predicted, and keeping it out means packed examples never learn across their boundary.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Literal

from tunesmith.data.types import IGNORE_INDEX, Conversation, Document, TokenizedExample
from tunesmith.errors import DataError, UsageError

TrainOn = Literal["assistant", "last", "all"]
Overlong = Literal["error", "truncate", "drop"]
TRAIN_ON = ("assistant", "last", "all")
OVERLONG = ("error", "truncate", "drop")
# Stands in for an answer to locate the template's header and tail around it; plain ASCII with
# no spaces, so templates that trim or inspect the content leave it intact.
_SENTINEL = "TunesmithAnswerSentinel7f3a"


class OverlongError(DataError):
    """An example has more tokens than the limit and the overlong policy is `error`."""


@dataclass(frozen=True)
class _Turn:
    role: str
    content: str
    trained: bool


def tokenize_conversation(
    tokenizer: Any,
    conversation: Conversation,
    *,
    train_on: TrainOn = "assistant",
    max_length: int | None = None,
    overlong: Overlong = "error",
) -> TokenizedExample | None:
    """Token ids and labels of a chat example, or None when `overlong="drop"` drops it.

    `train_on`: `assistant` trains every assistant turn with weight 1, `last` only the final
    assistant turn (if its weight is 1), `all` every token. A template that rejects the system
    role gets the system prompt folded into the first user turn (`meta["system_folded"]`).
    """
    _check_choice("train_on", train_on, TRAIN_ON)
    _check_choice("overlong", overlong, OVERLONG)
    where = _where(conversation)
    turns = _turns(conversation, train_on)
    turns, text, folded = _renderable(tokenizer, turns, where)
    ids, offsets = _encode_with_offsets(tokenizer, text, where)
    if train_on == "all":
        labels = list(ids)
    else:
        spans = [_trained_span(tokenizer, turns, i, text, where) for i in _trained_indices(turns)]
        labels = _labels_for_spans(ids, offsets, spans)
    if labels:
        labels[0] = IGNORE_INDEX
    example = TokenizedExample(
        ids, labels, conversation.source, conversation.line, {"system_folded": 1} if folded else {}
    )
    return apply_overlong(example, max_length, overlong)


def tokenize_document(tokenizer: Any, document: Document, *, window: int) -> list[TokenizedExample]:
    """Plain text cut into windows of at most `window` tokens, every token trained.

    The tokenizer's usual special tokens (a BOS where the model has one) come first and the EOS
    last. Consecutive windows share one token, the last of one being the first of the next,
    because the first token of a window is never predicted: this way every token after the very
    first is trained exactly once.
    """
    if window < 2:
        raise UsageError(f"document window must be at least 2 tokens (got {window})")
    ids = list(tokenizer(document.text, add_special_tokens=True)["input_ids"])
    eos = tokenizer.eos_token_id
    if eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
    if not ids:
        return []
    windows = []
    for number, start in enumerate(range(0, max(len(ids) - 1, 1), window - 1)):
        chunk = ids[start : start + window]
        labels = [IGNORE_INDEX, *chunk[1:]]
        meta = {"window": number}
        windows.append(TokenizedExample(chunk, labels, document.source, document.line, meta))
    return windows


def apply_overlong(
    example: TokenizedExample, max_length: int | None, overlong: Overlong
) -> TokenizedExample | None:
    """Apply the overlong policy: keep, raise OverlongError, cut (marked) or drop (None)."""
    length = len(example.input_ids)
    if max_length is None or length <= max_length:
        return example
    if overlong == "drop":
        return None
    if overlong == "truncate":
        example.input_ids = example.input_ids[:max_length]
        example.labels = example.labels[:max_length]
        example.meta["truncated"] = 1
        return example
    raise OverlongError(
        f"{_where(example)}: the example is {length} tokens, over the limit of {max_length}",
        hint="raise data.max_length (or data.seq_len when packing), or set data.overlong "
        "to truncate or drop",
    )


# --- turns and rendering -------------------------------------------------------------------


def _turns(conversation: Conversation, train_on: str) -> list[_Turn]:
    assistants = [i for i, m in enumerate(conversation.messages) if m.role == "assistant"]
    last = assistants[-1] if assistants else -1
    turns = []
    for i, m in enumerate(conversation.messages):
        trained = m.role == "assistant" and m.weight != 0 and (train_on != "last" or i == last)
        turns.append(_Turn(m.role, m.content, trained))
    return turns


def _renderable(tokenizer: Any, turns: list[_Turn], where: str) -> tuple[list[_Turn], str, bool]:
    """The turns as the template accepts them, rendered; a rejected system prompt is folded.

    Folding rather than failing: Mistral- and Gemma-style templates have no system role, and a
    system prompt (often added by the reader to every example) should not make the data unusable.
    """
    try:
        return turns, _apply_template(tokenizer, turns), False
    except Exception as exc:
        if not turns or turns[0].role != "system":
            raise _template_error(exc, where) from None
        folded = _fold_system(turns, where)
    return folded, _render(tokenizer, folded, where), True


def _fold_system(turns: list[_Turn], where: str) -> list[_Turn]:
    system, rest = turns[0], turns[1:]
    if not rest or rest[0].role != "user":
        raise DataError(
            f"{where}: the chat template rejects the system message and no user message "
            "follows it to carry the system prompt",
            hint="start the conversation with system, then user",
        )
    first = _Turn("user", f"{system.content}\n\n{rest[0].content}", False)
    return [first, *rest[1:]]


def _render(tokenizer: Any, turns: list[_Turn], where: str, **kwargs: Any) -> str:
    try:
        return _apply_template(tokenizer, turns, **kwargs)
    except Exception as exc:
        raise _template_error(exc, where) from None


def _apply_template(tokenizer: Any, turns: list[_Turn], **kwargs: Any) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise DataError(
            "the tokenizer has no chat template, so chat examples cannot be rendered",
            hint="use a model with a chat template (an instruct model), or plain text data",
        )
    chat = [{"role": t.role, "content": t.content} for t in turns]
    return tokenizer.apply_chat_template(chat, tokenize=False, **kwargs)


def _template_error(exc: Exception, where: str) -> DataError:
    if isinstance(exc, DataError):
        return exc
    return DataError(
        f"{where}: the model's chat template cannot render this conversation: {exc}",
        hint="check the order of roles (most templates want user and assistant to alternate)",
    )


# --- locating trained text ----------------------------------------------------------------


def _trained_indices(turns: list[_Turn]) -> list[int]:
    return [i for i, t in enumerate(turns) if t.trained]


def _trained_span(
    tokenizer: Any, turns: list[_Turn], index: int, full: str, where: str
) -> tuple[int, int]:
    """Character span of turn `index` in `full`: its answer plus its tail up to the end token."""
    probe = [*turns[:index], _Turn("assistant", _SENTINEL, True)]
    probed = _render(tokenizer, probe, where)
    cut = probed.find(_SENTINEL)
    header, tail = probed[:cut], probed[cut + len(_SENTINEL) :]
    upto = _render(tokenizer, turns[: index + 1], where)
    if cut < 0 or not (full.startswith(upto) and upto.startswith(header) and upto.endswith(tail)):
        raise DataError(
            f"{where}: cannot locate assistant turn {index + 1} in the rendered conversation "
            "(the chat template renders earlier turns differently once later turns follow)",
            hint="set data.train_on to last, which needs only the final turn",
        )
    end = len(upto) - len(tail) + len(tail.rstrip())
    return len(header), end


def _encode_with_offsets(
    tokenizer: Any, text: str, where: str
) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of rendered text (no added BOS: the template has its own) and char offsets."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError) as exc:
        raise DataError(
            f"{where}: the tokenizer cannot map tokens to characters ({exc})",
            hint="use the model's fast tokenizer (tokenizer.json)",
        ) from None
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def _labels_for_spans(
    ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[int]:
    labels = [IGNORE_INDEX] * len(ids)
    ends = [end for _, end in offsets]
    for start, stop in spans:
        token = bisect_right(ends, start)  # first token ending after the span starts
        while token < len(ids) and offsets[token][0] < stop:
            if offsets[token][1] > offsets[token][0]:
                labels[token] = ids[token]
            token += 1
    return labels


# --- small helpers -------------------------------------------------------------------------


def _where(item: Conversation | Document | TokenizedExample) -> str:
    if item.source:
        return f"{item.source}:{item.line}" if item.line else item.source
    return f"example at line {item.line}" if item.line else "example"


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UsageError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
