"""The normalized records every reader produces and every later step consumes.

Readers turn each input format into `Conversation`s (chat data) or `Document`s (plain text for
continued pre-training), each remembering the file and line it came from so that errors and
reports can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn. `weight` 0 marks an assistant turn that is shown but not trained on."""

    role: Role
    content: str
    weight: int = 1


@dataclass(frozen=True)
class Conversation:
    """A chat example: messages in order, and where it came from."""

    messages: tuple[Message, ...]
    source: str = ""
    line: int = 0

    def as_chat(self) -> list[dict[str, str]]:
        """The messages as plain dicts, the shape chat templates expect."""
        return [{"role": m.role, "content": m.content} for m in self.messages]


@dataclass(frozen=True)
class Document:
    """Plain text for continued pre-training: every token is trained."""

    text: str
    source: str = ""
    line: int = 0


@dataclass(frozen=True)
class SoftTargets:
    """Next-token distributions to learn instead of the labels (self-replay against forgetting).

    Row j is the distribution of the token at position j + 1: `ids` and `probs` are tensors
    [len(input_ids) - 1, k] holding the k most likely tokens and their probabilities; whatever
    probability the k leave counts as one more outcome.
    """

    ids: Any
    probs: Any


@dataclass
class TokenizedExample:
    """Token ids with labels: -100 marks positions that carry no loss."""

    input_ids: list[int]
    labels: list[int]
    source: str = ""
    line: int = 0
    meta: dict[str, int] = field(default_factory=dict)
    soft_targets: SoftTargets | None = field(default=None, compare=False, repr=False)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


IGNORE_INDEX = -100
