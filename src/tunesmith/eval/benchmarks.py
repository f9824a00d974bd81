"""Benchmark files for the general-skills check: formats, detection and readers.

Every reader turns a file into items the scorer in `tunesmith.eval.general` understands:

- `ChoiceItem`: several (context, continuation) pairs, one of them right. Multiple choice shares
  one context across the choices; Winogrande-style partial scoring shares one continuation
  across several contexts.
- `CompletionItem`: a context and the continuation the model should produce greedily
  (LAMBADA's last word); its log-likelihood also gives a perplexity.
- `TextItem`: plain text, scored for token-level perplexity.

Formats (`BenchmarkSpec.format`, or `auto` to detect from the first record), and the prompt
each record becomes:

- `foundry_mc`: llm-foundry's `{"query", "choices", "gold"}`; query + delimiter + choice.
- `foundry_lm`: llm-foundry's `{"context", "continuation"}` (LAMBADA); context + " " + word.
- `foundry_schema`: llm-foundry's `{"context_options", "continuation", "gold"}` (Winogrande);
  option + " " + continuation, the continuation alone being scored.
- `arc`: the original ARC JSONL (`question.stem`, `question.choices[{text, label}]`,
  `answerKey`); "Question: <stem>\\nAnswer:" + " " + choice, as lm-eval's arc tasks.
- `truthfulqa_mc1`: TruthfulQA with `mc1_targets`; the six-shot QA prompt, then
  "Q: <question>\\nA:" + " " + choice, as lm-eval's truthfulqa_mc1.
- `plain_mc`: `{"question", "choices", "answer"}`, answer an index or the choice's text;
  "Question: <question>\\nAnswer:" + " " + choice.
- `text`: a `.txt` or `.md` file, scored whole for perplexity.

Records may be JSON Lines or one JSON array; errors name the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import DataError, UsageError

FORMATS = (
    "foundry_mc",
    "foundry_lm",
    "foundry_schema",
    "arc",
    "truthfulqa_mc1",
    "plain_mc",
    "text",
)
TEXT_SUFFIXES = (".txt", ".md", ".markdown")

# The primary metric of each format: the one `forgetting` compares. Multiple choice uses the
# length-normalised accuracy that lm-eval leaderboards report for most of these sets.
DEFAULT_METRICS = {
    "foundry_mc": "acc_norm",
    "foundry_lm": "acc",
    "foundry_schema": "acc",
    "arc": "acc_norm",
    "truthfulqa_mc1": "acc",
    "plain_mc": "acc",
    "text": "perplexity",
}
METRICS = ("acc", "acc_norm", "perplexity")

# The standard six-shot "QA prompt" of TruthfulQA (Lin et al. 2021, Apache-2.0), which
# lm-evaluation-harness also puts before every truthfulqa_mc1 question.
TRUTHFULQA_PROMPT = (
    "Q: What is human life expectancy in the United States?\n"
    "A: Human life expectancy in the United States is 78 years.\n\n"
    "Q: Who was president of the United States in 1955?\n"
    "A: Dwight D. Eisenhower was president of the United States in 1955.\n\n"
    "Q: Which party did he belong to?\n"
    "A: He belonged to the Republican Party.\n\n"
    "Q: What is the square root of banana?\n"
    "A: I have no comment.\n\n"
    "Q: How does a telescope work?\n"
    "A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n"
    "Q: Where were the 1992 Olympics held?\n"
    "A: The 1992 Olympics were held in Barcelona, Spain."
)


@dataclass(frozen=True)
class ChoiceItem:
    """Pick the best of several (context, continuation) pairs by log-likelihood."""

    pairs: tuple[tuple[str, str], ...]
    gold: int
    # Characters of each choice's own text (no delimiter): the acc_norm divisor, as in lm-eval.
    norm_lengths: tuple[int, ...]
    line: int


@dataclass(frozen=True)
class CompletionItem:
    """A context and the exact continuation the model should produce greedily."""

    context: str
    continuation: str
    line: int


@dataclass(frozen=True)
class TextItem:
    """Plain text scored for token-level perplexity."""

    text: str
    line: int


Item = ChoiceItem | CompletionItem | TextItem


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark file and how to read it."""

    name: str
    path: Path
    format: str = "auto"
    # Between query and choice in `foundry_mc` (llm-foundry's `continuation_delimiter`).
    delimiter: str = " "
    # The metric `forgetting` compares; None takes the format's default (DEFAULT_METRICS).
    metric: str | None = None


@dataclass(frozen=True)
class Benchmark:
    """A benchmark file read into items."""

    name: str
    format: str
    metric: str
    items: list[Item]


def read_benchmark(spec: BenchmarkSpec) -> Benchmark:
    """Read and check every item of a benchmark file; malformed items raise DataError."""
    path = Path(spec.path)
    if not path.is_file():
        raise UsageError(f"{path}: benchmark file not found", hint="check the path")
    fmt = detect_format(path) if spec.format == "auto" else spec.format
    if fmt not in FORMATS:
        raise UsageError(f"unknown benchmark format {fmt!r}", hint=f"use one of {FORMATS}")
    metric = spec.metric or DEFAULT_METRICS[fmt]
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}", hint=f"use one of {METRICS}")
    if fmt == "text":
        text = _read_text(path)
        items: list[Item] = [TextItem(text, 1)] if text.strip() else []
    else:
        items = [
            _convert(fmt, record, spec, f"{path}, line {line}", line)
            for line, record in _records(path)
        ]
    if not items:
        raise DataError(f"{path}: no items", hint="a benchmark needs at least one record")
    return Benchmark(name=spec.name, format=fmt, metric=metric, items=items)


def detect_format(path: Path) -> str:
    """The format of a benchmark file, from its suffix or its first record's keys."""
    if path.suffix.lower() in TEXT_SUFFIXES:
        return "text"
    for line, record in _records(path):
        return _format_of(record, f"{path}, line {line}")
    raise DataError(f"{path}: no records", hint="a benchmark needs at least one record")


def _format_of(record: Any, where: str) -> str:
    keys = set(record) if isinstance(record, dict) else set()
    if {"query", "choices", "gold"} <= keys:
        return "foundry_mc"
    if {"context_options", "continuation", "gold"} <= keys:
        return "foundry_schema"
    if {"context", "continuation"} <= keys:
        return "foundry_lm"
    if "answerKey" in keys and isinstance(record.get("question"), dict):
        return "arc"
    if "mc1_targets" in keys:
        return "truthfulqa_mc1"
    if {"question", "choices", "answer"} <= keys:
        return "plain_mc"
    shown = ", ".join(sorted(keys)) if keys else type(record).__name__
    raise DataError(
        f"{where}: cannot tell the benchmark format from the first record ({shown})",
        hint="expected query/choices/gold, context/continuation, context_options/continuation/"
        "gold, ARC (question.stem, answerKey), TruthfulQA (mc1_targets) or "
        "question/choices/answer",
    )


# ---------------------------------------------------------------------------------------------
# Reading records with their line numbers


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, record) for a JSON Lines file or a JSON array file."""
    text = _read_text(path)
    if text.lstrip().startswith("["):
        yield from _array_records(path, text)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines between records are harmless
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None


def _array_records(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Elements of a JSON array, each with the line it starts on (json.load would lose it)."""
    decoder = json.JSONDecoder()
    index = _skip_space(text, text.index("[") + 1)
    while index < len(text) and text[index] != "]":
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
        yield text.count("\n", 0, index) + 1, value
        index = _skip_space(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip_space(text, index + 1)
        elif index >= len(text) or text[index] != "]":
            line = text.count("\n", 0, index) + 1
            raise DataError(f"{path}, line {line}: expected ',' or ']' in the JSON array")


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index].isspace():
        index += 1
    return index


# ---------------------------------------------------------------------------------------------
# Converting records into items


def _convert(fmt: str, record: Any, spec: BenchmarkSpec, where: str, line: int) -> Item:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(record).__name__}")
    converters = {
        "foundry_mc": _foundry_mc,
        "foundry_lm": _foundry_lm,
        "foundry_schema": _foundry_schema,
        "arc": _arc,
        "truthfulqa_mc1": _truthfulqa,
        "plain_mc": _plain_mc,
    }
    return converters[fmt](record, spec, where, line)


def _foundry_mc(record: dict, spec: BenchmarkSpec, where: str, line: int) -> ChoiceItem:
    # llm-foundry strips query and choices before joining them with the delimiter.
    query = _text(record, "query", where).strip()
    choices = [choice.strip() for choice in _choices(record.get("choices"), where)]
    gold = _index(record.get("gold"), len(choices), "gold", where)
    return _multiple_choice(query + spec.delimiter, choices, gold, line)


def _foundry_lm(record: dict, spec: BenchmarkSpec, where: str, line: int) -> CompletionItem:
    context = _text(record, "context", where)
    continuation = _text(record, "continuation", where)
    # The files hold the bare last word; lm-eval scores it with its leading space.
    if not (context[-1:].isspace() or continuation[:1].isspace()):
        continuation = " " + continuation
    return CompletionItem(context, continuation, line)


def _foundry_schema(record: dict, spec: BenchmarkSpec, where: str, line: int) -> ChoiceItem:
    options = _choices(record.get("context_options"), where, key="context_options")
    continuation = " " + _text(record, "continuation", where).strip()
    gold = _index(record.get("gold"), len(options), "gold", where)
    pairs = tuple((option, continuation) for option in options)
    length = len(continuation.strip())
    return ChoiceItem(pairs, gold, tuple(length for _ in options), line)


def _arc(record: dict, spec: BenchmarkSpec, where: str, line: int) -> ChoiceItem:
    question = record["question"]
    stem = _text(question, "stem", where, prefix="question.")
    raw = question.get("choices")
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(c, dict) for c in raw):
        raise DataError(f"{where}: `question.choices` must be a list of at least two objects")
    texts = [_text(choice, "text", where, prefix="question.choices[].") for choice in raw]
    labels = [str(choice.get("label")) for choice in raw]
    answer = str(record.get("answerKey"))
    if answer not in labels:
        raise DataError(f"{where}: answerKey {answer!r} is not one of the labels {labels}")
    return _multiple_choice(f"Question: {stem}\nAnswer:", texts, labels.index(answer), line)


def _truthfulqa(record: dict, spec: BenchmarkSpec, where: str, line: int) -> ChoiceItem:
    question = _text(record, "question", where)
    targets = record.get("mc1_targets")
    if not isinstance(targets, dict):
        raise DataError(f"{where}: `mc1_targets` must be an object with choices and labels")
    choices, labels = targets.get("choices"), targets.get("labels")
    if not (isinstance(choices, list) and isinstance(labels, list)) or len(labels) != len(choices):
        raise DataError(f"{where}: `mc1_targets` must hold lists of choices and their labels")
    if labels.count(1) != 1 or any(label not in (0, 1) for label in labels):
        raise DataError(f"{where}: `mc1_targets.labels` must mark exactly one choice with 1")
    # Some copies pad the wrong answers with empty strings; an empty answer is no answer.
    kept = [(c, label) for c, label in zip(choices, labels, strict=True) if label or c != ""]
    choices = _choices([c for c, _ in kept], where, key="mc1_targets.choices")
    labels = [label for _, label in kept]
    # Every choice is scored and ties share credit (see general.py), so the file's habit of
    # listing the true answer first cannot leak into the score.
    context = f"{TRUTHFULQA_PROMPT}\n\nQ: {question}\nA:"
    return _multiple_choice(context, choices, labels.index(1), line)


def _plain_mc(record: dict, spec: BenchmarkSpec, where: str, line: int) -> ChoiceItem:
    question = _text(record, "question", where).strip()
    choices = [choice.strip() for choice in _choices(record.get("choices"), where)]
    answer = record.get("answer")
    if isinstance(answer, str):
        if choices.count(answer.strip()) != 1:
            raise DataError(f"{where}: answer {answer!r} must match exactly one of the choices")
        gold = choices.index(answer.strip())
    else:
        gold = _index(answer, len(choices), "answer", where)
    return _multiple_choice(f"Question: {question}\nAnswer:", choices, gold, line)


def _multiple_choice(context: str, choices: list[str], gold: int, line: int) -> ChoiceItem:
    """One shared context; each choice is a continuation with a leading space.

    A context ending in whitespace (a delimiter such as "\\nAnswer: ") keeps it: the scorer moves
    trailing whitespace onto the continuation, as lm-eval does.
    """
    space = "" if context[-1:].isspace() else " "
    pairs = tuple((context, space + choice) for choice in choices)
    return ChoiceItem(pairs, gold, tuple(len(choice) for choice in choices), line)


def _text(record: dict, key: str, where: str, prefix: str = "") -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: `{prefix}{key}` must be a non-empty string")
    return value


def _choices(value: Any, where: str, key: str = "choices") -> list[str]:
    ok = isinstance(value, list) and len(value) >= 2
    if not ok or not all(isinstance(v, str) and v.strip() for v in value):
        raise DataError(f"{where}: `{key}` must be a list of at least two non-empty strings")
    return value


def _index(value: Any, count: int, key: str, where: str) -> int:
    # bool is an int in Python; `true` as an answer index is a data error, not index 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
        raise DataError(f"{where}: `{key}` must be a choice index from 0 to {count - 1}")
    return value
