"""Brand voice: preferred terms, banned terms and the sign-off, checked in generated answers.

The glossary is a YAML file (see examples/northpeak/glossary.yaml):

    sign_off: "— Happy trails, the Northpeak crew"   # optional: the line every answer ends with
    preferred:                                        # optional
      - term: "member"
        instead_of: ["customer", "client"]            # terms the preferred one replaces
      - "basecamp"                                    # a preferred term with nothing to replace
    banned: ["cheap", "unfortunately"]                # optional: never used in an answer
    style: ["Warm, direct and practical."]            # optional: notes for people, not checked

Terms match whole words, case-insensitively, with any whitespace between the words of a
phrase: banned "stores" does not match "restores", and "Member Care" matches "member  care".
An answer adheres when it uses no banned term and none of the `instead_of` terms. The
sign-off counts when the answer ends with it, ignoring case, spacing, leading dashes and
trailing punctuation, so a model that writes "- Happy trails, the Northpeak crew!" is signed off.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.errors import DataError, UsageError

GLOSSARY_KEYS = ("sign_off", "preferred", "banned", "style")


@dataclass(frozen=True)
class PreferredTerm:
    """A term the company uses, and the terms it replaces."""

    term: str
    instead_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class TermCheck:
    """The glossary terms found in one answer, each listed once in glossary order."""

    preferred_used: list[str] = field(default_factory=list)
    banned_used: list[str] = field(default_factory=list)
    replaced_terms_used: list[str] = field(default_factory=list)

    @property
    def adheres(self) -> bool:
        """No banned term and no replaced term."""
        return not self.banned_used and not self.replaced_terms_used


@dataclass(frozen=True)
class Adherence:
    """Shares of answers (None when there are no answers, or no sign-off to check)."""

    n: int
    adherence: float | None  # no banned and no replaced term
    banned_term_rate: float | None  # at least one banned term
    replaced_term_rate: float | None  # at least one `instead_of` term
    preferred_rate: float | None  # at least one preferred term
    sign_off_rate: float | None  # ends with the sign-off; None when the glossary has none


@dataclass(frozen=True)
class Glossary:
    """A company's voice rules, loaded from YAML with `Glossary.load`."""

    preferred: tuple[PreferredTerm, ...] = ()
    banned: tuple[str, ...] = ()
    sign_off: str | None = None
    style: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Glossary:
        """Read and check a glossary file; errors name the file and the key."""
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"glossary file {path} does not exist", hint="check the path")
        return cls.from_dict(_read_yaml(path), source=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "glossary") -> Glossary:
        """Build a glossary from parsed YAML, checking every key."""
        if not isinstance(data, dict):
            raise DataError(
                f"{source}: a glossary is a mapping with keys {', '.join(GLOSSARY_KEYS)}",
                hint="see examples/northpeak/glossary.yaml",
            )
        unknown = sorted(str(k) for k in data if k not in GLOSSARY_KEYS)
        if unknown:
            raise DataError(
                f"{source}: unknown glossary key `{unknown[0]}`",
                hint=f"allowed keys: {', '.join(GLOSSARY_KEYS)}",
            )
        sign_off = data.get("sign_off")
        if sign_off is not None and not _is_text(sign_off):
            raise _key_error(source, "sign_off", "must be non-empty text")
        return cls(
            preferred=tuple(
                _preferred(item, source, i)
                for i, item in enumerate(_list(data, "preferred", source))
            ),
            banned=tuple(_terms(data, "banned", source)),
            sign_off=sign_off.strip() if sign_off else None,
            style=tuple(_terms(data, "style", source)),
            source=source,
        )

    def check(self, answer: str) -> TermCheck:
        """Which preferred, banned and replaced terms the answer uses."""
        return TermCheck(
            preferred_used=[p.term for p in self.preferred if _uses(answer, p.term)],
            banned_used=[t for t in self.banned if _uses(answer, t)],
            replaced_terms_used=_unique(
                t for p in self.preferred for t in p.instead_of if _uses(answer, t)
            ),
        )

    def signed_off(self, answer: str) -> bool | None:
        """Whether the answer ends with the sign-off; None when the glossary has none."""
        if not self.sign_off:
            return None
        answer_form, sign_off = _sign_off_form(answer), _sign_off_form(self.sign_off)
        return answer_form == sign_off or answer_form.endswith(" " + sign_off)

    def adherence(self, answers: Sequence[str]) -> Adherence:
        """Shares of the answers that follow each rule."""
        checks = [self.check(a) for a in answers]
        n = len(checks)
        signed = [self.signed_off(a) for a in answers] if self.sign_off else []
        return Adherence(
            n=n,
            adherence=_share(sum(c.adheres for c in checks), n),
            banned_term_rate=_share(sum(bool(c.banned_used) for c in checks), n),
            replaced_term_rate=_share(sum(bool(c.replaced_terms_used) for c in checks), n),
            preferred_rate=_share(sum(bool(c.preferred_used) for c in checks), n),
            sign_off_rate=_share(sum(bool(s) for s in signed), n) if self.sign_off else None,
        )


# --- matching -------------------------------------------------------------------------------


def _uses(answer: str, term: str) -> bool:
    return _term_pattern(term).search(answer) is not None


_CURLY = str.maketrans({"\u2019": "'", "\u2018": "'"})


def _term_pattern(term: str) -> re.Pattern[str]:
    words = term.translate(_CURLY).split()
    body = r"\s+".join(re.escape(w).replace("'", "['\u2019]") for w in words)
    # Whole words: no letter, digit or underscore right before or after the term.
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _sign_off_form(text: str) -> str:
    # Dashes and markdown marks dropped, spacing collapsed, trailing "." and "!" ignored.
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\-\u2010-\u2015~*_]+", " ", text)
    return " ".join(text.split()).rstrip(" .!")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


# --- loading --------------------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DataError(
            f"{path}: invalid YAML{where}: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if data is None:
        raise DataError(
            f"{path}: the glossary is empty",
            hint=f"give at least one of {', '.join(GLOSSARY_KEYS)}",
        )
    return data


def _list(data: dict[str, Any], key: str, source: str, prefix: str = "") -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _key_error(source, f"{prefix}{key}", "must be a list")
    return value


def _terms(data: dict[str, Any], key: str, source: str, prefix: str = "") -> list[str]:
    items = _list(data, key, source, prefix)
    for i, item in enumerate(items):
        if not _is_text(item):
            raise _key_error(source, f"{prefix}{key}[{i}]", "must be non-empty text")
    return [item.strip() for item in items]


def _preferred(item: Any, source: str, index: int) -> PreferredTerm:
    key = f"preferred[{index}]"
    if _is_text(item):
        return PreferredTerm(item.strip())
    if not isinstance(item, dict):
        raise _key_error(source, key, "must be a term or a mapping with `term` and `instead_of`")
    unknown = sorted(str(k) for k in item if k not in ("term", "instead_of"))
    if unknown:
        raise _key_error(source, f"{key}.{unknown[0]}", "is not a known key (term, instead_of)")
    if not _is_text(item.get("term")):
        raise _key_error(source, f"{key}.term", "must be non-empty text")
    replaced = _terms(item, "instead_of", source, prefix=f"{key}.")
    return PreferredTerm(item["term"].strip(), tuple(replaced))


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _key_error(source: str, key: str, problem: str) -> DataError:
    return DataError(f"{source}: `{key}` {problem}", hint="see examples/northpeak/glossary.yaml")
