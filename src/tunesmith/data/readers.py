"""Readers: every supported input format turned into `Conversation`s or `Document`s.

Formats (`fmt`): `openai` (chat JSONL with `messages`), `alpaca` (`instruction`/`input`/
`output`), `sharegpt` (`conversations` of `from`/`value`), `csv` (question/answer columns, also
TSV), `text` (.txt/.md files or a folder of them, or JSONL with a `text` field) and `eval` (the
evaluation format: `question`, `reference`, ...). `auto` detects the format from the extension
and the first record's keys.

Reading streams: JSONL, CSV and text are read line by line, so memory stays bounded on any
file size; a `.json` array is parsed whole (its size in memory is a few times the file size).
Every record carries its 1-based line and the problems found in it, so validation can report
all of them in one pass; `read_examples` is the strict front door that raises on any error.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunesmith.data.types import Conversation, Document, Message
from tunesmith.errors import DataError, UsageError

FORMATS = ("openai", "alpaca", "sharegpt", "csv", "text", "eval")
Severity = Literal["error", "warning"]
Example = Conversation | Document

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES = (".csv", ".tsv", ".tab")
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
QUESTION_COLUMNS = ("question", "prompt", "instruction", "input", "query", "user")
ANSWER_COLUMNS = ("answer", "response", "output", "completion", "reply", "assistant")
MESSAGE_KEYS = frozenset({"role", "content", "weight", "name"})
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}
# How many records detection looks at for one whose keys say the format.
_DETECT_RECORDS = 50
# A text file larger than this becomes several documents, split at blank lines, so reading a
# huge corpus never holds more than about this much text per document.
TEXT_CHUNK_CHARS = 1 << 20
_FIRST_PROBLEMS = 5


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: a stable `code`, where (`line`, `column`), and the fix.

    `line` is 1-based (None for problems of the whole file); `column` is 1-based when known;
    `file` names the file when a report covers more than one.
    """

    code: str
    line: int | None
    column: int | None
    message: str
    severity: Severity = "error"
    fix: str = ""
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """`line 3, column 7: message (fix: ...)` on one line."""
        where = "" if self.line is None else f"line {self.line}"
        if self.column is not None and where:
            where += f", column {self.column}"
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text


@dataclass
class Record:
    """One input record: where it starts, the example if usable, and what is wrong with it."""

    line: int
    example: Example | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.example is not None and not any(p.severity == "error" for p in self.problems)


def detect_format(path: str | Path) -> str:
    """The format of a file or folder, from its extension and its first record's keys.

    Raises UsageError when the path is missing and DataError when the format cannot be told.
    """
    path = _existing(path)
    if path.is_dir():
        return "text"
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSON_SUFFIXES or _starts_like_json(path):
        return _detect_json(path)
    raise DataError(
        f"{path}: cannot tell the data format from the extension {suffix or '(none)'!r}",
        hint="use .jsonl, .json, .csv, .tsv, .txt or .md, or pass --format "
        "(openai, alpaca, sharegpt, csv, text)",
    )


def iter_records(
    path: str | Path,
    fmt: str = "auto",
    *,
    question_column: str | None = None,
    answer_column: str | None = None,
    system_prompt: str | None = None,
) -> Iterator[Record]:
    """Stream the records of a file with their problems; never raises for bad content.

    Problems of the whole file (empty, missing CSV columns) come as a record with line 0.
    """
    path = _existing(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise UsageError(f"unknown data format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if fmt == "csv":
        records = _csv_records(path, question_column, answer_column)
    elif fmt == "text" and (path.is_dir() or path.suffix.lower() not in JSON_SUFFIXES):
        records = _text_records(path)
    else:
        records = _json_records(path, fmt)
    yield from _with_empty_check(_with_system_prompt(records, system_prompt))


def read_examples(path: str | Path, fmt: str = "auto", **options: Any) -> list[Example]:
    """All examples of a file; raises DataError naming the first problems and the fix.

    Options are those of `iter_records` (question_column, answer_column, system_prompt).
    Warnings do not stop reading; any error does.
    """
    examples: list[Example] = []
    errors: list[Problem] = []
    for record in iter_records(path, fmt, **options):
        errors.extend(p for p in record.problems if p.severity == "error")
        if record.example is not None and not errors:
            examples.append(record.example)
    if errors:
        raise data_error(path, errors)
    return examples


def data_error(path: str | Path, errors: list[Problem]) -> DataError:
    """One DataError listing the first problems (with lines and fixes) and the count of the rest."""
    shown = "; ".join(p.describe() for p in errors[:_FIRST_PROBLEMS])
    rest = len(errors) - _FIRST_PROBLEMS
    more = f"; and {rest} more" if rest > 0 else ""
    noun = "problem" if len(errors) == 1 else "problems"
    return DataError(
        f"{path}: {len(errors)} {noun} in the data: {shown}{more}",
        hint=f"run `tunesmith data check {path}` for the full report",
    )


# --- detection ------------------------------------------------------------------------------


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"data file {path} does not exist", hint="check the path")
    return path


def _starts_like_json(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"{", b"[")


def _detect_json(path: Path) -> str:
    """Look at the first records that are objects; their keys name the format."""
    for _, obj in _first_objects(path):
        fmt = _format_from_keys(path, obj)
        if fmt is not None:
            return fmt
        keys = ", ".join(sorted(obj)[:10]) or "(none)"
        raise DataError(
            f"{path}: cannot tell the data format from the first record's keys ({keys})",
            hint="expected `messages` (openai), `instruction`+`output` (alpaca), "
            "`conversations` (sharegpt), `text` (text) or `question`+`reference` (eval); "
            "or pass --format",
        )
    # Nothing parsed (empty or broken file): read it as OpenAI chat so the reader reports why.
    return "openai"


def _format_from_keys(path: Path, obj: dict[str, Any]) -> str | None:
    found = [
        fmt
        for fmt, keys in (
            ("openai", {"messages"}),
            ("sharegpt", {"conversations"}),
            ("alpaca", {"instruction"}),
            ("eval", {"question", "reference"}),
            ("text", {"text"}),
        )
        if keys <= obj.keys()
    ]
    if len(found) > 1:
        raise DataError(
            f"{path}: the first record fits several formats ({', '.join(found)})",
            hint=f"pass --format {found[0]} (or another of them) to say which",
        )
    return found[0] if found else None


def _first_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for count, (line, obj, problem) in enumerate(_json_values(path), start=1):
        if problem is None and isinstance(obj, dict):
            yield line, obj
        if count >= _DETECT_RECORDS:
            return


# --- JSON and JSONL -------------------------------------------------------------------------


def _json_records(path: Path, fmt: str) -> Iterator[Record]:
    convert = _CONVERTERS[fmt]
    for line, obj, problem in _json_values(path):
        if problem is not None:
            yield Record(line, None, [problem])
            continue
        example, problems = convert(obj, str(path), line)
        yield Record(line, example if not _has_error(problems) else None, problems)


def _json_values(path: Path) -> Iterator[tuple[int, Any, Problem | None]]:
    """(line, value, problem) for each JSON value: the elements of a `.json` array, a `.json`
    file that is one (possibly multi-line) object, or one value per JSONL line."""
    if path.suffix.lower() == ".json":
        if _first_char(path) == "[":
            yield from _json_array_values(path)
            return
        single = _single_object(path)
        if single is not None:
            yield single
            return
    yield from _jsonl_values(path)


def _single_object(path: Path) -> tuple[int, Any, None] | None:
    """A `.json` file holding exactly one object, with its first line; None when it is not
    one (then it is read as JSONL, which reports what is wrong line by line)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    stripped = text.lstrip()
    return text.count("\n", 0, len(text) - len(stripped)) + 1, value, None


def _first_char(path: Path) -> str:
    with path.open("rb") as stream:
        head = stream.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1].decode("ascii", errors="replace")


def _jsonl_values(path: Path) -> Iterator[tuple[int, Any, Problem | None]]:
    for number, text, problem in _decoded_lines(path):
        if problem is not None:
            yield number, None, problem
            continue
        if not text.strip():
            continue  # blank lines between records are harmless
        try:
            value = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            yield number, None, _invalid_json(exc, number, exc.colno)
            continue
        yield number, value, None


def _decoded_lines(path: Path) -> Iterator[tuple[int, str, Problem | None]]:
    """(line number, text, problem) for every line, decoded as UTF-8 one line at a time."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, raw.decode("utf-8", errors="replace"), _invalid_utf8(exc, number)


def _invalid_utf8(exc: UnicodeDecodeError, line: int) -> Problem:
    return Problem(
        "invalid_utf8",
        line,
        exc.start + 1,
        f"bytes that are not UTF-8 at byte {exc.start + 1} of the line ({exc.reason})",
        fix="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
    )


def _invalid_json(exc: json.JSONDecodeError, line: int, column: int) -> Problem:
    return Problem(
        "invalid_json",
        line,
        column,
        f"invalid JSON: {exc.msg}",
        fix="one JSON object per line; check quotes, commas and brackets",
    )


def _json_array_values(path: Path) -> Iterator[tuple[int, Any, Problem | None]]:
    """Elements of a JSON array, each with the line where it starts (the file is read whole)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        yield (
            line,
            None,
            Problem(
                "invalid_utf8",
                line,
                column,
                f"bytes that are not UTF-8 ({exc.reason})",
                fix="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
            ),
        )
        return
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        yield exc.lineno, None, _invalid_json(exc, exc.lineno, exc.colno)
        return
    yield from _array_elements(text)


def _array_elements(text: str) -> Iterator[tuple[int, Any, Problem | None]]:
    """Decode the (valid) array element by element to learn where each one starts."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[\s,]*")
    pos = ws.match(text, text.index("[") + 1).end()
    line, counted = 1, 0
    while pos < len(text) and text[pos] != "]":
        value, end = decoder.raw_decode(text, pos)
        line += text.count("\n", counted, pos)  # only the stretch since the last element
        counted = pos
        yield line, value, None
        pos = ws.match(text, end).end()


# --- per-format conversion ------------------------------------------------------------------


def _problem(code: str, line: int, message: str, fix: str) -> Problem:
    return Problem(code, line, None, message, fix=fix)


def _has_error(problems: Iterable[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


def _not_object(obj: Any, line: int, what: str) -> Problem:
    return _problem(
        "data_type",
        line,
        f"{what} is a JSON {_json_type(obj)}, not an object",
        "each record must be a JSON object {...}",
    )


def _json_type(obj: Any) -> str:
    for kind, name in ((bool, "boolean"), (str, "string"), (list, "array"), (dict, "object")):
        if isinstance(obj, kind):
            return name
    return "null" if obj is None else "number"


def _text_of(content: Any) -> str | None:
    """Message content as text: a string, or OpenAI's list of `{"type": "text"}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(isinstance(p, dict) for p in content):
        parts = [p.get("text") for p in content if p.get("type") == "text"]
        if len(parts) == len(content) and all(isinstance(t, str) for t in parts):
            return "".join(parts)
    return None


def _openai(obj: Any, source: str, line: int) -> tuple[Conversation | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [_not_object(obj, line, "the record")]
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, [
            _problem(
                "missing_messages_list",
                line,
                "no `messages` list" if messages is None else "`messages` is not a non-empty list",
                'add "messages": [{"role": "user", ...}, {"role": "assistant", ...}]',
            )
        ]
    problems: list[Problem] = []
    parsed = [_openai_message(m, i + 1, line, problems) for i, m in enumerate(messages)]
    return _conversation(parsed, source, line, problems)


def _openai_message(m: Any, index: int, line: int, problems: list[Problem]) -> Message | None:
    if not isinstance(m, dict):
        problems.append(_not_object(m, line, f"message {index}"))
        return None
    before = len(problems)
    for key in ("role", "content"):
        if key not in m:
            problems.append(
                _problem(
                    "message_missing_key",
                    line,
                    f"message {index} has no `{key}`",
                    'every message needs "role" and "content"',
                )
            )
    for key in sorted(set(m) - MESSAGE_KEYS):
        problems.append(
            _problem(
                "message_unrecognized_key",
                line,
                f"message {index} has an unrecognized key `{key}`",
                f"allowed keys: {', '.join(sorted(MESSAGE_KEYS))}; remove or rename `{key}`",
            )
        )
    role = m.get("role")
    if "role" in m and role not in ("system", "user", "assistant"):
        problems.append(_unrecognized_role(role, index, line, "system, user, assistant"))
    weight = m.get("weight", 1)
    if isinstance(weight, bool) or weight not in (0, 1):
        problems.append(
            _problem(
                "invalid_weight",
                line,
                f"message {index} has weight {weight!r}",
                "weight must be 0 (not trained) or 1 (trained)",
            )
        )
    text = _text_of(m.get("content"))
    if "content" in m and not (text and text.strip()):
        problems.append(_missing_content(index, line))
    if len(problems) > before:
        return None
    return Message(role, text, int(weight))  # type: ignore[arg-type]


def _unrecognized_role(role: Any, index: int, line: int, allowed: str) -> Problem:
    return _problem(
        "unrecognized_role",
        line,
        f"message {index} has role {role!r}",
        f"use one of: {allowed}",
    )


def _missing_content(index: int, line: int) -> Problem:
    return _problem(
        "missing_content",
        line,
        f"message {index} has empty or non-text content",
        "give every message non-empty text content",
    )


def _conversation(
    parsed: list[Message | None], source: str, line: int, problems: list[Problem]
) -> tuple[Conversation | None, list[Problem]]:
    messages = [m for m in parsed if m is not None]
    if not problems and not any(m.role == "assistant" for m in messages):
        problems.append(
            _problem(
                "example_missing_assistant_message",
                line,
                "the example has no assistant message, so there is nothing to learn",
                "add the answer as an assistant message",
            )
        )
    if problems:
        return None, problems
    return Conversation(tuple(messages), source=source, line=line), problems


def _sharegpt(obj: Any, source: str, line: int) -> tuple[Conversation | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [_not_object(obj, line, "the record")]
    turns = obj.get("conversations")
    if not isinstance(turns, list) or not turns:
        return None, [
            _problem(
                "missing_messages_list",
                line,
                "no `conversations` list"
                if turns is None
                else "`conversations` is not a non-empty list",
                'add "conversations": [{"from": "human", ...}, {"from": "gpt", ...}]',
            )
        ]
    problems: list[Problem] = []
    parsed = [_sharegpt_turn(t, i + 1, line, problems) for i, t in enumerate(turns)]
    if isinstance(obj.get("system"), str) and obj["system"].strip():
        parsed.insert(0, Message("system", obj["system"]))
    return _conversation(parsed, source, line, problems)


def _sharegpt_turn(t: Any, index: int, line: int, problems: list[Problem]) -> Message | None:
    if not isinstance(t, dict):
        problems.append(_not_object(t, line, f"turn {index}"))
        return None
    # Some ShareGPT exports use role/content inside `conversations`; accept both spellings.
    speaker_key, text_key = ("role", "content") if "role" in t else ("from", "value")
    before = len(problems)
    for key in (speaker_key, text_key):
        if key not in t:
            problems.append(
                _problem(
                    "message_missing_key",
                    line,
                    f"turn {index} has no `{key}`",
                    'every turn needs "from" and "value"',
                )
            )
    speaker = t.get(speaker_key)
    role = SHAREGPT_ROLES.get(speaker) if isinstance(speaker, str) else None
    if speaker_key in t and role is None:
        problems.append(_unrecognized_role(speaker, index, line, ", ".join(SHAREGPT_ROLES)))
    text = t.get(text_key)
    if text_key in t and not (isinstance(text, str) and text.strip()):
        problems.append(_missing_content(index, line))
    if len(problems) > before:
        return None
    return Message(role, text)  # type: ignore[arg-type]


def _alpaca(obj: Any, source: str, line: int) -> tuple[Conversation | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [_not_object(obj, line, "the record")]
    problems = _required_text(obj, ("instruction", "output"), line)
    extra = obj.get("input")
    if extra is not None and not isinstance(extra, str):
        problems.append(_field_not_text("input", line))
    system = obj.get("system")
    if system is not None and not isinstance(system, str):
        problems.append(_field_not_text("system", line))
    if problems:
        return None, problems
    prompt = obj["instruction"] + (f"\n\n{extra}" if extra and extra.strip() else "")
    messages = [Message("system", system)] if system and system.strip() else []
    messages += [Message("user", prompt), Message("assistant", obj["output"])]
    return Conversation(tuple(messages), source=source, line=line), []


def _eval_item(obj: Any, source: str, line: int) -> tuple[Conversation | None, list[Problem]]:
    """An evaluation item read as a question (user) and its reference answer (assistant)."""
    if not isinstance(obj, dict):
        return None, [_not_object(obj, line, "the record")]
    problems = _required_text(obj, ("question", "reference"), line)
    if problems:
        return None, problems
    messages = (Message("user", obj["question"]), Message("assistant", obj["reference"]))
    return Conversation(messages, source=source, line=line), []


def _text_item(obj: Any, source: str, line: int) -> tuple[Document | None, list[Problem]]:
    if not isinstance(obj, dict):
        return None, [_not_object(obj, line, "the record")]
    problems = _required_text(obj, ("text",), line)
    return (None, problems) if problems else (Document(obj["text"], source, line), [])


def _required_text(obj: dict[str, Any], keys: tuple[str, ...], line: int) -> list[Problem]:
    problems = []
    for key in keys:
        if key not in obj:
            problems.append(
                _problem(
                    "message_missing_key",
                    line,
                    f"the record has no `{key}`",
                    f"every record needs {', '.join(f'`{k}`' for k in keys)}",
                )
            )
        elif not (isinstance(obj[key], str) and obj[key].strip()):
            problems.append(
                _problem(
                    "missing_content",
                    line,
                    f"`{key}` is empty or not text",
                    f"give `{key}` non-empty text",
                )
            )
    return problems


def _field_not_text(key: str, line: int) -> Problem:
    return _problem("data_type", line, f"`{key}` is not text", f"make `{key}` a string")


_CONVERTERS = {
    "openai": _openai,
    "sharegpt": _sharegpt,
    "alpaca": _alpaca,
    "eval": _eval_item,
    "text": _text_item,
}


# --- CSV / TSV ------------------------------------------------------------------------------


def _csv_records(
    path: Path, question_column: str | None, answer_column: str | None
) -> Iterator[Record]:
    bad_lines: dict[int, Problem] = {}
    lines = _csv_lines(path, bad_lines)
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    columns = [c.strip().lower() for c in header]
    q = _pick_column(columns, question_column, QUESTION_COLUMNS)
    a = _pick_column(columns, answer_column, ANSWER_COLUMNS)
    if q is None or a is None:
        yield Record(0, None, [_missing_columns(header, q, a, question_column, answer_column)])
        return
    start = reader.line_num + 1
    for row in reader:
        yield _csv_record(row, q, a, start, reader.line_num, bad_lines, str(path))
        start = reader.line_num + 1


def _csv_lines(path: Path, bad_lines: dict[int, Problem]) -> Iterator[str]:
    for number, text, problem in _decoded_lines(path):
        if problem is not None:
            bad_lines[number] = problem
        yield text


def _pick_column(columns: list[str], wanted: str | None, defaults: tuple[str, ...]) -> int | None:
    for name in [wanted.strip().lower()] if wanted else defaults:
        if name in columns:
            return columns.index(name)
    return None


def _missing_columns(
    header: list[str], q: int | None, a: int | None, q_name: str | None, a_name: str | None
) -> Problem:
    missing = []
    if q is None:
        missing.append(f"question column ({q_name or ' | '.join(QUESTION_COLUMNS)})")
    if a is None:
        missing.append(f"answer column ({a_name or ' | '.join(ANSWER_COLUMNS)})")
    return Problem(
        "missing_column",
        1,
        None,
        f"the header ({', '.join(header)}) has no {' and no '.join(missing)}",
        fix="rename the columns, or set data.question_column / data.answer_column",
    )


def _csv_record(
    row: list[str],
    q: int,
    a: int,
    start: int,
    end: int,
    bad_lines: dict[int, Problem],
    source: str,
) -> Record:
    problems = [bad_lines.pop(n) for n in range(start, end + 1) if n in bad_lines]
    if not any(cell.strip() for cell in row):
        return Record(start, None, problems)  # a blank row: nothing to learn, nothing wrong
    for index, name in ((q, "question"), (a, "answer")):
        if index >= len(row) or not row[index].strip():
            problems.append(
                _problem(
                    "missing_content",
                    start,
                    f"the {name} cell is empty",
                    f"fill in the {name}, or delete the row",
                )
            )
    if problems:
        return Record(start, None, problems)
    messages = (Message("user", row[q]), Message("assistant", row[a]))
    return Record(start, Conversation(messages, source=source, line=start), [])


# --- plain text -----------------------------------------------------------------------------


def _text_records(path: Path) -> Iterator[Record]:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES and p.is_file())
    for file in files if path.is_dir() else [path]:
        yield from _text_file_records(file)


def _text_file_records(path: Path) -> Iterator[Record]:
    """Documents of about TEXT_CHUNK_CHARS, split at blank lines (or anywhere past 4x that)."""
    chunk: list[str] = []
    size, start = 0, 1
    for number, text, problem in _decoded_lines(path):
        if problem is not None:
            yield Record(number, None, [problem])
        if size >= TEXT_CHUNK_CHARS and (not text.strip() or size >= 4 * TEXT_CHUNK_CHARS):
            yield from _text_document(chunk, str(path), start)
            chunk, size, start = [], 0, number + 1
        chunk.append(text)
        size += len(text)
    yield from _text_document(chunk, str(path), start)


def _text_document(chunk: list[str], source: str, line: int) -> Iterator[Record]:
    text = "".join(chunk).strip()
    if text:
        yield Record(line, Document(text, source=source, line=line))


# --- shared post-processing -----------------------------------------------------------------


def _with_system_prompt(records: Iterator[Record], system_prompt: str | None) -> Iterator[Record]:
    """Add the configured system prompt to chat examples that have none."""
    for record in records:
        example = record.example
        if (
            system_prompt
            and isinstance(example, Conversation)
            and not any(m.role == "system" for m in example.messages)
        ):
            messages = (Message("system", system_prompt), *example.messages)
            record.example = Conversation(messages, example.source, example.line)
        yield record


def _with_empty_check(records: Iterator[Record]) -> Iterator[Record]:
    """Pass records through; when the file held no record at all, say so."""
    empty = True
    for record in records:
        empty = False
        yield record
    if empty:
        yield Record(
            0,
            None,
            [
                Problem(
                    "empty_file",
                    None,
                    None,
                    "the file holds no records",
                    fix="add examples, or point at the right file",
                )
            ],
        )
