"""Out-of-scope examples: general questions answered with the data's own redirects.

A company's assistant must decline what is not its business (medical, legal or financial
advice, homework, trivia) in the company's own words. Support data holds few such exchanges
(18 of 338 in the sample company's), so a tuned model answers most off-topic questions as if
they were about the company (docs/specialization.md). This module finds the redirect answers
in the training data and pairs them with general questions shipped with tunesmith
(`resources/off_topic/questions.txt`), without any external model or network:

- a training answer is a redirect when it is short, declines or hands over in its first two
  sentences (`REDIRECT_PATTERNS`) and states no number;
- a general question is used only when it lies outside the data's scope: its similarity to
  every in-scope training question (all-MiniLM-L6-v2 embeddings) is below the similarity that
  95% of in-scope questions reach to their nearest in-scope neighbour. A company whose own
  data covers, say, health questions thus never learns to decline them;
- each question gets the redirect answer of the redirect exchange whose question is closest,
  so a medical question gets the data's medical redirect, a coding question its coding one.

Data without any redirect answer gets none (the report says so): tunesmith never writes the
company's words for it. Questions that match an evaluation question are dropped and counted.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tunesmith.data.augment import common_system_prompt, eval_index, overlaps_eval
from tunesmith.data.types import Conversation, Message

# Generic ways of declining or handing over, not tied to one company. Matched case-insensitively
# after curly apostrophes become straight ones. Shared with the evaluation's redirect metric.
REDIRECT_PATTERNS: tuple[str, ...] = (
    r"\bi(?:'m| am) (?:not able|unable|not allowed|not in a position) to (?:give|provide|offer"
    r"|help|assist|answer|advise|comment|speak|recommend|share|discuss|diagnose|prescribe)",
    r"\bi (?:can ?not|can't|cant|do not|don't|won't|will not) (?:give|provide|offer|help|assist"
    r"|answer|advise|comment|speak|recommend|share|discuss|diagnose|prescribe)",
    r"\bi can only (?:help|assist|answer|speak|talk|discuss|handle|support)",
    r"\bi only (?:handle|help|answer|cover|deal with|support|assist)",
    r"\b(?:outside|beyond) (?:of )?(?:what i can|my |the scope|the range|what i'm able)",
    r"\bnot (?:something|a question|a topic|an area) (?:that )?i (?:can|am able|'m able)",
    r"\bnot (?:qualified|able|in a position) to (?:give|provide|advise|answer|help|offer)",
    r"\bi'?(?:m| am) not the right (?:source|person|place|assistant)",
    r"\bi'?(?:ll| will) have to pass\b",
    r"\b(?:please |you should |you'll want to |you may want to |it's best to |best to )"
    r"(?:contact|consult|ask|check with|check|speak (?:with|to)|talk (?:with|to)|reach out to"
    r"|call|see|visit)\b",
    r"\b(?:recommend|suggest|advise) (?:checking|contacting|consulting|speaking|talking|asking"
    r"|reaching out|seeing|visiting)",
    r"\b(?:recommended|advisable|wise) to (?:consult(?: with)?|check with|contact"
    r"|speak (?:with|to)|talk (?:with|to)|ask) (?:a|an|your|the)\b",
    r"\b(?:is|are|would be) (?:the|a|your) (?:right|best|better) (?:person|people|place|call"
    r"|source|bet|resource|contact)",
    r"\b(?:best|better) (?:taken|left|asked|directed|answered|handled|suited) (?:to|by|with|for)",
    r"\bwill serve you better\b",
    r"\bthe place to (?:look|ask|go|check)\b",
    r"\b(?:check|visit|see) (?:their|the) (?:own |official )?(?:site|website|page)",
    r"\bi'?(?:ll| will) leave (?:it|that|this) to\b",
    r"\bi don't have (?:information|access|details|data) (?:about|on|to)\b",
)
_REDIRECT_RE = re.compile("|".join(f"(?:{p})" for p in REDIRECT_PATTERNS))
_APOSTROPHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "`": "'"})
# A redirect says no and where to go in a few sentences; the sample company's are 30-50 words.
REDIRECT_MAX_WORDS = 80
# In-scope questions whose nearest in-scope neighbour is less similar than a general question
# is to every in-scope one: at most this share (the scope's loose fringe).
SCOPE_FRINGE = 0.05
QUESTIONS_RESOURCE = ("off_topic", "questions.txt")
# Bump when the questions or the way they are chosen change (part of the prepared-dataset key).
SCOPE_VERSION = 1


def has_redirect_phrase(answer: str) -> bool:
    """Whether the text uses a decline or hand-over phrase from `REDIRECT_PATTERNS`."""
    text = unicodedata.normalize("NFKC", answer).lower().translate(_APOSTROPHES)
    return _REDIRECT_RE.search(text) is not None


def first_sentences(text: str, count: int) -> str:
    """The first `count` sentences of the text (split after . ! ? and ;)."""
    return " ".join(re.split(r"(?<=[.!?;])\s+", text.strip())[:count])


def is_redirect_answer(answer: str) -> bool:
    """Whether a training answer declines or redirects: short, a decline phrase up front, and
    no number (an answer with a price or a date in it answers something)."""
    words = len(answer.split())
    if not words or words > REDIRECT_MAX_WORDS or re.search(r"\d", answer):
        return False
    return has_redirect_phrase(first_sentences(answer, 2))


def off_topic_questions() -> list[str]:
    """The general questions shipped with tunesmith (comments and blank lines left out)."""
    folder, name = QUESTIONS_RESOURCE
    text = resources.files("tunesmith.resources").joinpath(folder, name).read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@dataclass
class ScopeReport:
    """What out-of-scope generation found and added."""

    redirect_answers: int = 0
    candidates: int = 0
    outside_scope: int = 0
    dropped_eval_overlap: int = 0
    added: int = 0
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "redirect_answers": self.redirect_answers,
            "candidates": self.candidates,
            "outside_scope": self.outside_scope,
            "dropped_eval_overlap": self.dropped_eval_overlap,
            "added": self.added,
            "threshold": None if self.threshold is None else round(self.threshold, 4),
        }


def out_of_scope_examples(
    examples: Sequence[Any],
    *,
    share: float,
    seed: int,
    eval_questions: Sequence[str] = (),
    questions: Sequence[str] | None = None,
) -> tuple[list[Conversation], ScopeReport]:
    """Out-of-scope conversations making `share` of the examples plus themselves, and a report.

    Each is the data's most common system prompt (if any), a general question outside the
    data's scope and the data's redirect answer closest to it, verbatim.
    """
    ended = [
        (example, exchange)
        for example in examples
        if isinstance(example, Conversation) and (exchange := _last_exchange(example))
    ]
    chats = [chat for chat, _ in ended]
    redirects: list[tuple[str, str]] = []
    in_scope: list[str] = []
    for _, (question, answer) in ended:
        if is_redirect_answer(answer):
            redirects.append((question, answer))
        else:
            in_scope.append(question)
    report = ScopeReport(redirect_answers=len(redirects))
    wanted = _count(share, len(examples))
    if not redirects or len(in_scope) < 2 or wanted < 1:
        return [], report
    candidates = list(questions) if questions is not None else off_topic_questions()
    guard = eval_index(eval_questions)
    kept = [q for q in candidates if not overlaps_eval(q, guard)]
    report.candidates = len(candidates)
    report.dropped_eval_overlap = len(candidates) - len(kept)
    pairs, report.threshold = _outside_scope(kept, in_scope, redirects)
    report.outside_scope = len(pairs)
    random.Random(seed).shuffle(pairs)
    system = common_system_prompt(chats)
    out = [_conversation(q, a, system, n) for n, (q, a) in enumerate(pairs[:wanted], 1)]
    report.added = len(out)
    return out, report


def _count(share: float, examples: int) -> int:
    """How many generated examples make `share` of all training examples."""
    if share <= 0 or examples < 1:
        return 0
    return math.ceil(examples * share / (1.0 - share))


def scope_threshold(inside: Any) -> float:
    """The similarity that all but `SCOPE_FRINGE` of the in-scope questions (embedded, one per
    row, at least two) reach to their nearest other in-scope question."""
    import torch

    neighbours = inside @ inside.T
    neighbours.fill_diagonal_(-1.0)
    return float(torch.quantile(neighbours.max(dim=1).values, SCOPE_FRINGE))


def _outside_scope(
    questions: Sequence[str], in_scope: Sequence[str], redirects: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], float]:
    """The questions outside the scope, each with its redirect answer; the scope threshold."""
    from tunesmith.embedding import embed

    inside = embed(list(in_scope))
    threshold = scope_threshold(inside)
    if not questions:
        return [], threshold
    asked = embed(list(questions))
    redirect_questions = embed([q for q, _ in redirects])
    closest_inside = (asked @ inside.T).max(dim=1).values
    topical = (asked @ redirect_questions.T).max(dim=1)
    general = _general_redirect(redirects, redirect_questions)
    pairs = []
    for i, question in enumerate(questions):
        if float(closest_inside[i]) >= threshold:
            continue
        if float(topical.values[i]) >= threshold:
            pairs.append((question, redirects[int(topical.indices[i])][1]))
        elif general is not None:
            pairs.append((question, general))
    return pairs, threshold


def _general_redirect(redirects: Sequence[tuple[str, str]], questions: Any) -> str | None:
    """The data's catch-all redirect: of the answers given to two or more questions, the one
    that least echoes them ("That's outside what I can help with" rather than "I can't give
    legal advice"). None when every redirect answers a single question."""
    from tunesmith.embedding import embed

    by_answer: dict[str, list[int]] = {}
    for number, (_, answer) in enumerate(redirects):
        by_answer.setdefault(answer, []).append(number)
    shared = [answer for answer, numbers in by_answer.items() if len(numbers) > 1]
    if not shared:
        return None
    answers = embed(shared)
    echoes = [float((questions[by_answer[a]] @ answers[i]).mean()) for i, a in enumerate(shared)]
    return shared[min(range(len(shared)), key=echoes.__getitem__)]


def _last_exchange(chat: Conversation) -> tuple[str, str] | None:
    """The conversation's last question and its answer, when it ends that way."""
    messages = chat.messages
    if len(messages) < 2 or messages[-1].role != "assistant" or messages[-2].role != "user":
        return None
    return messages[-2].content, messages[-1].content


def _conversation(question: str, answer: str, system: str | None, number: int) -> Conversation:
    messages = [Message("user", question), Message("assistant", answer)]
    if system is not None:
        messages.insert(0, Message("system", system))
    return Conversation(tuple(messages), source="out_of_scope", line=number)


@dataclass(frozen=True)
class ScopeGuard:
    """Tells a question the company answers from one it declines, by the closest known one.

    `inside` holds the embedded questions the training data answers; `outside` those it
    declines (its redirect exchanges) and the shipped general questions that lie outside its
    scope. A question closer to some `outside` question than to every `inside` one is declined.
    A nearest-neighbour rule rather than a similarity threshold: held-out questions are worded
    differently from training, so their similarity to the data is lower than any threshold
    calibrated on the training questions themselves (docs/specialization.md, session 17).
    """

    inside: Any
    outside: Any
    declined_questions: int  # rows of `outside` from the data's redirect exchanges
    general_questions: int  # rows of `outside` from the shipped general questions

    def declines(self, vectors: Any) -> list[bool]:
        """For each embedded question (one per row), whether it lies outside the scope."""
        if not len(vectors):
            return []
        inside = (vectors @ self.inside.T).max(dim=1).values
        outside = (vectors @ self.outside.T).max(dim=1).values
        return (outside > inside).tolist()

    def summary(self) -> dict[str, int]:
        return {
            "answered_questions": len(self.inside),
            "declined_questions": self.declined_questions,
            "general_questions": self.general_questions,
        }


def build_scope_guard(
    exchanges: Sequence[tuple[str, str]], eval_questions: Sequence[str] = ()
) -> ScopeGuard | None:
    """The guard for the training exchanges (question, answer); None when the data has no
    redirect answer (nothing to decline with) or fewer than two answered questions.

    Shipped general questions that match an evaluation question are left out, so the guard
    never knows an evaluation question beforehand.
    """
    import torch

    from tunesmith.embedding import embed

    declined = [q for q, a in exchanges if is_redirect_answer(a)]
    answered = [q for q, a in exchanges if not is_redirect_answer(a)]
    if not declined or len(answered) < 2:
        return None
    guard = eval_index(eval_questions)
    general = [q for q in off_topic_questions() if not overlaps_eval(q, guard)]
    inside = embed(answered)
    asked = embed(general) if general else torch.zeros(0, inside.shape[1])
    far = asked[(asked @ inside.T).max(dim=1).values < scope_threshold(inside)]
    outside = torch.cat([embed(declined), far])
    return ScopeGuard(inside, outside, len(declined), len(far))
