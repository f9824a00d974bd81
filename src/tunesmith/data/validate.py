"""`check_file`: every problem of a data file in one streaming pass, with token statistics.

The file is read record by record (see `readers`); only the problems, the duplicate index
(hashes and MinHash signatures in flat arrays, about 210 bytes per example, see `dedup`) and
one 4-byte token length per example stay in memory. With `eval_path`, the training user
turns are indexed too and every evaluation question is looked up in them. Duplicates are
found once the whole file is read, so their problems are sorted in among the others by line.

Severities: errors make the data unusable as written (the CLI exits 1); warnings are worth a
look but do not stop training: exact and near duplicates, overlong examples under the
`truncate` and `drop` policies, and evaluation items that are only nearly in the training data.
"""

from __future__ import annotations

import dataclasses
import math
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.data.dedup import (
    EVAL_LEAK_THRESHOLD,
    NEAR_DUPLICATE_THRESHOLD,
    DuplicateIndex,
    Match,
    example_text,
    user_texts,
)
from tunesmith.data.readers import Example, Problem, detect_format, iter_records
from tunesmith.data.types import Conversation, TokenizedExample
from tunesmith.errors import DataError, UsageError

OVERLONG_POLICIES = ("error", "truncate", "drop")
# Plain-text documents are cut into windows of this many tokens when no limit is given.
DEFAULT_DOCUMENT_WINDOW = 2048
# Tokenizers report a huge sentinel (1e30) as model_max_length when they do not know it.
_UNKNOWN_LENGTH = 10_000_000

CODES: dict[str, str] = {
    "data_type": "a record (or a message in it) is not a JSON object",
    "missing_messages_list": "no `messages` (or `conversations`) list",
    "message_missing_key": "a message or record lacks a required key",
    "message_unrecognized_key": "a message has a key other than role, content, weight, name",
    "unrecognized_role": "a role other than system, user, assistant",
    "missing_content": "empty or non-text content",
    "example_missing_assistant_message": "no assistant message: nothing to learn",
    "invalid_json": "the line is not valid JSON",
    "invalid_utf8": "bytes that are not UTF-8",
    "empty_file": "the file holds no records",
    "missing_column": "the CSV header has no question or answer column",
    "too_few_examples": "fewer usable examples than the minimum",
    "invalid_weight": "a weight other than 0 or 1",
    "too_long": "more tokens than the length limit",
    "template_error": "the chat template cannot render the conversation",
    "duplicate": "the same example as an earlier line",
    "near_duplicate": "nearly the same example as an earlier line",
    "eval_leak": "an evaluation question also in the training data",
}


@dataclass
class CheckReport:
    """What `check_file` found: problems, counts, and token statistics when tokenized."""

    path: str
    format: str
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    examples: int = 0
    usable: int = 0
    stats: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        """Problems per code."""
        return dict(Counter(p.code for p in self.problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "ok": self.ok,
            "records": self.records,
            "examples": self.examples,
            "usable": self.usable,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "counts": self.counts(),
            "stats": self.stats,
            "eval": self.eval,
            "problems": [p.to_dict() for p in self.problems],
        }


def check_file(
    path: str | Path,
    *,
    fmt: str = "auto",
    tokenizer: Any = None,
    max_length: int | None = None,
    overlong: str = "error",
    eval_path: str | Path | None = None,
    min_examples: int = 10,
    train_on: str = "assistant",
    near_duplicates: bool = True,
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD,
    leak_threshold: float = EVAL_LEAK_THRESHOLD,
    **reader_options: Any,
) -> CheckReport:
    """Check a training file (and optionally an evaluation file against it) in one pass.

    `tokenizer` adds token statistics and the length check (`max_length`, else the
    tokenizer's known limit); `overlong` says what training will do with longer examples.
    `reader_options` go to `iter_records` (question_column, answer_column, system_prompt).
    Raises UsageError for a missing file or a bad option, DataError when the format cannot be
    detected; everything wrong inside the data becomes a problem in the report.
    """
    if overlong not in OVERLONG_POLICIES:
        raise UsageError(
            f"overlong must be one of {', '.join(OVERLONG_POLICIES)} (got {overlong!r})"
        )
    if eval_path is not None and not Path(eval_path).exists():
        raise UsageError(f"evaluation file {eval_path} does not exist", hint="check the path")
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    checker = _Checker(
        report=CheckReport(str(path), fmt),
        tokens=_TokenCounter(tokenizer, _limit(tokenizer, max_length), overlong, train_on)
        if tokenizer is not None
        else None,
        duplicates=DuplicateIndex(near_threshold, near=near_duplicates),
        # Character shingles: eval questions are short, and one changed word would change
        # most of a short question's word 3-grams.
        prompts=DuplicateIndex(leak_threshold, shingles="chars") if eval_path is not None else None,
    )
    for record in iter_records(path, fmt, **reader_options):
        checker.add(record.line, record.example, record.problems)
    report = checker.finish(min_examples)
    if eval_path is not None and checker.prompts is not None:
        report.eval = _check_eval(Path(eval_path), checker.prompts, report)
    return report


def _limit(tokenizer: Any, max_length: int | None) -> int | None:
    if max_length is not None:
        return max_length
    known = getattr(tokenizer, "model_max_length", None)
    return known if isinstance(known, int) and known < _UNKNOWN_LENGTH else None


# --- the training file ----------------------------------------------------------------------


@dataclass
class _Checker:
    report: CheckReport
    tokens: _TokenCounter | None
    duplicates: DuplicateIndex
    prompts: DuplicateIndex | None

    def add(self, line: int, example: Example | None, problems: list[Problem]) -> None:
        report = self.report
        report.problems.extend(_in_file(problems, report.path))
        if line > 0:
            report.records += 1
        if example is None:
            return
        report.examples += 1
        self.duplicates.add(example_text(example), line)
        if self.prompts is not None:
            for text in user_texts(example):
                self.prompts.add(text, line)
        usable = True
        if self.tokens is not None:
            found, usable = self.tokens.add(line, example)
            report.problems.extend(_in_file(found, report.path))
        report.usable += usable

    def finish(self, min_examples: int) -> CheckReport:
        report = self.report
        for line, match in self.duplicates.duplicates():
            report.problems.append(_duplicate(line, match, report.path))
        report.problems.sort(key=_by_line)
        if self.tokens is not None:
            report.stats = self.tokens.summary()
        if report.records and report.usable < min_examples:
            report.problems.append(
                Problem(
                    "too_few_examples",
                    None,
                    None,
                    f"{report.usable} usable examples; at least {min_examples} are needed",
                    fix="add examples (50-100 good ones is a useful start) or fix the errors",
                    file=report.path,
                )
            )
        return report


def _by_line(problem: Problem) -> tuple[int, int]:
    """Problems of the whole file (no line) first, then by line; stable within a line."""
    return (0, 0) if problem.line is None else (1, problem.line)


def _in_file(problems: list[Problem], path: str) -> Iterator[Problem]:
    for problem in problems:
        yield problem if problem.file else dataclasses.replace(problem, file=path)


def _duplicate(line: int, match: Match, path: str) -> Problem:
    if match.exact:
        return Problem(
            "duplicate",
            line,
            None,
            f"the same example as line {match.key}",
            "warning",
            "delete the repeat: duplicates weigh an example twice and inflate evaluation",
            path,
        )
    return Problem(
        "near_duplicate",
        line,
        None,
        f"nearly the same as line {match.key} (similarity {match.similarity:.2f})",
        "warning",
        "keep one of them, unless the difference is what should be learned",
        path,
    )


# --- token statistics -----------------------------------------------------------------------


@dataclass
class _TokenCounter:
    """Tokenizes each example with the model's chat template and keeps only its counts."""

    tokenizer: Any
    max_length: int | None
    overlong: str
    train_on: str
    lengths: array = field(default_factory=lambda: array("I"))
    total: int = 0
    trained: int = 0
    over: int = 0

    def add(self, line: int, example: Example) -> tuple[list[Problem], bool]:
        """Problems of this example and whether it will be trained on."""
        try:
            pieces = self._tokenize(example)
        except DataError as exc:
            return [_template_error(line, exc)], False
        problems: list[Problem] = []
        usable = True
        for piece in pieces:
            length = len(piece.input_ids)
            self.lengths.append(length)
            if self.max_length is not None and length > self.max_length:
                self.over += 1
                problems.append(self._too_long(line, length))
                usable = self.overlong == "truncate"
                if not usable:
                    continue
                piece = _truncated(piece, self.max_length)
            self.total += len(piece.input_ids)
            self.trained += piece.trained_tokens
        return problems, usable

    def _tokenize(self, example: Example) -> list[TokenizedExample]:
        from tunesmith.data.render import tokenize_conversation, tokenize_document

        if isinstance(example, Conversation):
            # No limit here: lengths are compared below so every overlong example is counted.
            tokenized = tokenize_conversation(
                self.tokenizer, example, train_on=self.train_on, max_length=None
            )
            return [tokenized] if tokenized is not None else []
        window = self.max_length or DEFAULT_DOCUMENT_WINDOW
        return tokenize_document(self.tokenizer, example, window=window)

    def _too_long(self, line: int, length: int) -> Problem:
        limit = self.max_length
        if self.overlong == "error":
            return Problem(
                "too_long",
                line,
                None,
                f"{length} tokens, over the limit of {limit}",
                fix="shorten or split the example, raise --max-length, or choose "
                "--overlong truncate or drop",
            )
        outcome = "truncated" if self.overlong == "truncate" else "dropped"
        return Problem(
            "too_long",
            line,
            None,
            f"{length} tokens, over the limit of {limit}: it will be {outcome}",
            "warning",
            "shorten or split the example to train on all of it",
        )

    def summary(self) -> dict[str, Any]:
        lengths = sorted(self.lengths)
        fit = len(lengths) - self.over
        return {
            "max_length": self.max_length,
            "tokenized": len(lengths),
            "total_tokens": self.total,
            "trained_tokens": self.trained,
            "tokens_per_example": _distribution(lengths),
            "fit": fit,
            "overlong": {
                "count": self.over,
                "policy": self.overlong,
                "errors": self.over if self.overlong == "error" else 0,
                "truncated": self.over if self.overlong == "truncate" else 0,
                "dropped": self.over if self.overlong == "drop" else 0,
            },
        }


def _truncated(piece: TokenizedExample, limit: int) -> TokenizedExample:
    return TokenizedExample(piece.input_ids[:limit], piece.labels[:limit], piece.source, piece.line)


def _distribution(lengths: list[int]) -> dict[str, float | int | None]:
    if not lengths:
        return {"min": None, "mean": None, "p95": None, "max": None}
    p95 = lengths[min(len(lengths) - 1, math.ceil(0.95 * len(lengths)) - 1)]
    mean = round(sum(lengths) / len(lengths), 1)
    return {"min": lengths[0], "mean": mean, "p95": p95, "max": lengths[-1]}


def _template_error(line: int, exc: DataError) -> Problem:
    return Problem(
        "template_error",
        line,
        None,
        exc.message.split(": ", 1)[-1] if ":" in exc.message else exc.message,
        fix=exc.hint or "check the order of roles",
    )


# --- the evaluation file --------------------------------------------------------------------


def _check_eval(path: Path, prompts: DuplicateIndex, report: CheckReport) -> dict[str, Any]:
    """Problems of the evaluation file, and its questions that also appear in training."""
    fmt = detect_format(path)
    repeats = DuplicateIndex(near=False)
    items = exact = near = 0
    for record in iter_records(path, fmt):
        report.problems.extend(_in_file(record.problems, str(path)))
        if record.example is None:
            continue
        items += 1
        repeats.add(example_text(record.example), record.line)
        leak = _first_leak(record.example, prompts)
        if leak is not None:
            exact += leak.exact
            near += not leak.exact
            report.problems.append(_leak_problem(path, record.line, report.path, leak))
    report.problems.extend(_duplicate(line, m, str(path)) for line, m in repeats.duplicates())
    return {
        "path": str(path),
        "format": fmt,
        "items": items,
        "leaks": exact + near,
        "exact_leaks": exact,
        "near_leaks": near,
        "threshold": prompts.threshold,
    }


def _first_leak(example: Example, prompts: DuplicateIndex) -> Match | None:
    """The first user turn (the question) found in the training user turns."""
    for text in user_texts(example):
        found = prompts.query(text)
        if found is not None:
            return found
    return None


def _leak_problem(path: Path, line: int, train: str, leak: Match) -> Problem:
    if leak.exact:
        how, severity = "also appears", "error"
    else:
        how, severity = f"nearly appears (similarity {leak.similarity:.2f})", "warning"
    return Problem(
        "eval_leak",
        line,
        None,
        f"evaluation line {line}: the question {how} in training ({train} line {leak.key})",
        severity,  # type: ignore[arg-type]
        "remove it from one of the files: a leaked question measures memory, not learning",
        str(path),
    )
