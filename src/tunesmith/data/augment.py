"""Training-data augmentation without any external model: more ways to ask, same answers.

A small model learns a fact from a handful of conversations only in the wording it saw; users
then ask in their own words. Each training conversation gets variants that change how the
question arrives and never what the answer says:

- `surface`: the last question in another surface form (a greeting before it, a thank-you
  after it, lower case, no final punctuation), like real users type;
- `system`: the same conversation with the system prompt removed, or with the data's most
  common system prompt added, so answers do not hinge on it;
- `follow_up`: the question asked as a follow-up, after another exchange from the training
  data (shown, not trained), so the model answers the latest question in a longer chat;
- `statement`: the answer alone as plain text (every token trained, without the sign-off that
  most answers share): the facts in the form pre-training stores knowledge.

Assistant turns are copied verbatim, so every fact of an answer survives in every variant.
Variants longer than the length limit are left out (counted), never an error.
Only training examples are augmented (the validation split and the evaluation file never are),
and a variant whose question matches an evaluation question is dropped and counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tunesmith.data.dedup import DuplicateIndex
from tunesmith.data.types import Conversation, Document, Message

KINDS = ("surface", "system", "follow_up", "statement")
GREETINGS = ("Hi! ", "Hello, ", "Hey there. ", "Quick question: ", "Hi, I need some help. ")
THANKS = (" Thanks!", " Thank you.", " Thanks in advance.", " Appreciate it!")
# A trailing line shared by at least this share of answers is a sign-off, not a fact.
SIGN_OFF_SHARE = 0.5

Example = Conversation | Document


@dataclass
class AugmentReport:
    """What augmentation added, by kind, and what it dropped."""

    source_examples: int = 0
    added: dict[str, int] = field(default_factory=dict)
    dropped_eval_overlap: int = 0
    sign_off: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_examples": self.source_examples,
            "added": dict(self.added),
            "added_total": sum(self.added.values()),
            "dropped_eval_overlap": self.dropped_eval_overlap,
            "sign_off": self.sign_off,
        }


def augment_examples(
    examples: Sequence[Example],
    *,
    seed: int,
    eval_questions: Sequence[str] = (),
) -> tuple[list[Example], AugmentReport]:
    """The examples followed by their variants, and a report of what was generated."""
    rng = random.Random(seed)
    chats = [e for e in examples if _augmentable(e)]
    report = AugmentReport(source_examples=len(examples), added=dict.fromkeys(KINDS, 0))
    report.sign_off = common_sign_off([c.messages[-1].content for c in chats])
    system_prompt = common_system_prompt(chats)
    guard = eval_index(eval_questions)
    singles = [c for c in chats if _single_exchange(c)]
    out: list[Example] = list(examples)
    for chat in chats:
        if _overlaps(chat, guard):
            # The source already repeats an evaluation question (`data check` reports it as a
            # leak); none of its variants may spread it further.
            report.dropped_eval_overlap += len(KINDS)
            continue
        variants = {
            "surface": _surface(chat, rng),
            "system": _toggle_system(chat, system_prompt),
            "follow_up": _follow_up(chat, singles, rng),
            "statement": _statement(chat, report.sign_off),
        }
        for kind, variant in variants.items():
            if variant is None:
                continue
            if isinstance(variant, Conversation) and _overlaps(variant, guard):
                report.dropped_eval_overlap += 1
                continue
            out.append(variant)
            report.added[kind] += 1
    return out, report


def common_sign_off(answers: Sequence[str]) -> str | None:
    """The last paragraph shared by most answers (a fixed sign-off), if there is one."""
    if not answers:
        return None
    endings = Counter(_last_paragraph(a) for a in answers if "\n" in a.strip())
    if not endings:
        return None
    ending, count = endings.most_common(1)[0]
    return ending if ending and count >= SIGN_OFF_SHARE * len(answers) else None


def _augmentable(example: Example) -> bool:
    if not isinstance(example, Conversation) or len(example.messages) < 2:
        return False
    last, before = example.messages[-1], example.messages[-2]
    return last.role == "assistant" and last.weight == 1 and before.role == "user"


def _single_exchange(chat: Conversation) -> bool:
    return [m.role for m in chat.messages if m.role != "system"] == ["user", "assistant"]


def _surface(chat: Conversation, rng: random.Random) -> Conversation | None:
    question = chat.messages[-2].content.strip()
    forms = [
        rng.choice(GREETINGS) + question,
        question + rng.choice(THANKS),
        question.lower(),
        question.rstrip("?!. "),
    ]
    forms = [f for f in forms if f and f != question]
    if not forms:
        return None
    return _with_question(chat, rng.choice(forms), suffix="surface")


def _toggle_system(chat: Conversation, system_prompt: str | None) -> Conversation | None:
    if chat.messages[0].role == "system":
        return _variant(chat, chat.messages[1:], "system")
    if system_prompt is None:
        return None
    return _variant(chat, (Message("system", system_prompt), *chat.messages), "system")


def _follow_up(
    chat: Conversation, singles: Sequence[Conversation], rng: random.Random
) -> Conversation | None:
    others = [s for s in singles if s is not chat]
    if not others:
        return None
    earlier = [m for m in rng.choice(others).messages if m.role != "system"]
    shown = tuple(replace(m, weight=0) if m.role == "assistant" else m for m in earlier)
    system = tuple(m for m in chat.messages if m.role == "system")
    rest = tuple(m for m in chat.messages if m.role != "system")
    return _variant(chat, (*system, *shown, *rest), "follow_up")


def _statement(chat: Conversation, sign_off: str | None) -> Document | None:
    answer = chat.messages[-1].content.strip()
    if sign_off and answer.endswith(sign_off):
        answer = answer[: -len(sign_off)].rstrip()
    if not answer:
        return None
    return Document(answer, source=f"{chat.source}#statement", line=chat.line)


def _with_question(chat: Conversation, question: str, *, suffix: str) -> Conversation:
    messages = list(chat.messages)
    messages[-2] = replace(messages[-2], content=question)
    return _variant(chat, messages, suffix)


def _variant(chat: Conversation, messages: Sequence[Message], kind: str) -> Conversation:
    return Conversation(tuple(messages), source=f"{chat.source}#{kind}", line=chat.line)


def common_system_prompt(chats: Sequence[Conversation]) -> str | None:
    """The data's most common system prompt (None when no conversation has one)."""
    prompts = Counter(c.messages[0].content for c in chats if c.messages[0].role == "system")
    return prompts.most_common(1)[0][0] if prompts else None


def _last_paragraph(text: str) -> str:
    return text.strip().rsplit("\n", 1)[-1].strip()


def eval_index(questions: Sequence[str]) -> DuplicateIndex | None:
    """A near-duplicate index of the evaluation questions (None when there are none)."""
    if not questions:
        return None
    index = DuplicateIndex()
    for number, question in enumerate(questions):
        index.add(question, number)
    return index


def _overlaps(chat: Conversation, guard: DuplicateIndex | None) -> bool:
    return any(overlaps_eval(m.content, guard) for m in chat.messages if m.role == "user")


def overlaps_eval(text: str, guard: DuplicateIndex | None) -> bool:
    """Whether the text repeats an evaluation question held by `guard` (from `eval_index`)."""
    return guard is not None and guard.query(text) is not None
