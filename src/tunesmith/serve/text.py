"""Incremental detokenisation with stop strings, for streaming.

The text of a sequence is decoded from all its tokens at each step (byte-level BPE can split a
character across tokens, so decoding tokens one by one would garble it). Text is released only
when it can no longer change: an incomplete character at the end, or an ending that could be
the start of a stop string, is held back until the next token settles it.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"  # what the tokenizer yields for an incomplete UTF-8 sequence


class TextStream:
    """The text of one generated sequence, released piece by piece."""

    def __init__(self, tokenizer: Any, stops: tuple[str, ...] = ()) -> None:
        self.tokenizer = tokenizer
        self.stops = tuple(stop for stop in stops if stop)
        self.ids: list[int] = []
        self.text = ""
        self.sent = 0  # characters of self.text already released

    def push(self, token: int) -> tuple[str, bool]:
        """Add a token; return the newly releasable text and whether a stop string was hit."""
        self.ids.append(token)
        self.text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        stop_at = self._find_stop()
        if stop_at is not None:
            piece = self.text[self.sent : max(stop_at, self.sent)]
            self.text = self.text[: max(stop_at, self.sent)]
            self.sent = len(self.text)
            return piece, True
        end = self._safe_end()
        piece = self.text[self.sent : end]
        self.sent = max(self.sent, end)
        return piece, False

    def flush(self) -> str:
        """Everything not yet released (the sequence has ended without a stop string)."""
        piece = self.text[self.sent :]
        self.sent = len(self.text)
        return piece

    def _find_stop(self) -> int | None:
        if not self.stops:
            return None
        longest = max(len(stop) for stop in self.stops)
        start = max(0, self.sent - longest)
        found = [i for i in (self.text.find(stop, start) for stop in self.stops) if i >= 0]
        return min(found) if found else None

    def _safe_end(self) -> int:
        end = len(self.text)
        while end > self.sent and self.text[end - 1] == REPLACEMENT:
            end -= 1
        for keep in range(min(end - self.sent, _longest(self.stops) - 1), 0, -1):
            tail = self.text[end - keep : end]
            if any(stop.startswith(tail) for stop in self.stops):
                return end - keep
        return end


def _longest(stops: tuple[str, ...]) -> int:
    return max((len(stop) for stop in stops), default=0)
