"""Find and redact personal data and secrets in training files, fully offline.

Kinds: e-mail addresses, phone numbers, payment card numbers, IBANs, US social security
numbers, IP addresses and secrets (API keys and tokens, PEM private keys, labelled passwords,
long random strings).

Why mostly our own detectors: Presidio needs a spaCy model download (fails offline),
detect-secrets covers secrets only, scrubadub is unmaintained, and the checks that matter here
(Luhn, IBAN mod-97 with the registry's lengths, SSN ranges, the stdlib ``ipaddress``) are a few
lines each. Phone numbers are the exception: per-country numbering rules are large and change,
so ``phonenumbers`` (Google's libphonenumber metadata, offline) checks international numbers
and normalizes every number to E.164, which keeps "(555) 123-4567" and "+1 555 123 4567" the
same value.

Decisions worth knowing:
- Precision over exhaustiveness where data would be damaged for nothing: dates, times, prices,
  order/invoice/tracking numbers, product codes and unformatted digit runs are not phones; a
  card needs a card network's prefix and length and a valid Luhn digit; national phone
  formats are recognized for North America only (others need their "+" country code).
- UUIDs, git commit SHAs and other hex digests are NOT secrets: they are identifiers that
  datasets and logs are full of, and redacting them would break the text while rarely hiding a
  credential. The cost: a hex-encoded credential is only caught when it is labelled
  (``api_key = 3f9a...``, ``"token": "..."``).
- ``value_hash`` is a keyed sha256 prefix: an unkeyed hash of a 9-digit SSN or a phone number
  is reversed by brute force in seconds. The key is random per process unless the environment
  variable ``TUNESMITH_PRIVACY_SALT`` sets one, so hashes group values within a run (or across
  runs that share the salt) without revealing them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import math
import os
import re
import secrets
import stat
import tempfile
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

import phonenumbers

__all__ = [
    "KINDS",
    "PLACEHOLDER_TAGS",
    "Finding",
    "RedactionReport",
    "Span",
    "find_spans",
    "redact_file",
    "scan_file",
    "scan_summary",
    "scan_text",
]

KINDS = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret")
PLACEHOLDER_TAGS = {
    "email": "EMAIL",
    "phone": "PHONE",
    "credit_card": "CARD",
    "iban": "IBAN",
    "us_ssn": "SSN",
    "ip_address": "IP",
    "secret": "SECRET",
}

# Lines longer than this are read in pieces so memory stays bounded on any file; a value that
# straddles a piece boundary of such a line can be missed. JSON lines get a larger bound
# because a record must be parsed whole.
_MAX_PIECE_CHARS = 1 << 20
_MAX_JSON_LINE_CHARS = 64 << 20
# The lines after a PEM BEGIN line (up to this many, or to the END line) are scanned as one
# unit, so that a block is matched whole.
_MAX_PEM_LINES = 200
_BATCH_CHARS = 1 << 16
# National phone formats (no "+") are read as North American numbers.
_NATIONAL_REGION = "US"

_HASH_KEY = os.environ.get("TUNESMITH_PRIVACY_SALT", "").encode() or secrets.token_bytes(16)


@dataclass(frozen=True)
class Finding:
    """One detected value, located but never stored: only a masked preview and a keyed hash.

    ``line`` and ``column`` are 1-based; in JSON files the column points into the string
    literal that holds the value (exact unless escapes precede it in that string).
    """

    kind: str
    line: int
    column: int
    preview: str
    path: str | None
    value_hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Span:
    """A detected value in a text: characters ``[start, end)`` and its kind.

    ``key`` is the normalized value (lower-cased e-mail, E.164 phone, digits of a card...):
    equal keys are the same datum. It is raw personal data, so it stays out of ``repr``.
    """

    start: int
    end: int
    kind: str
    key: str = field(repr=False, compare=False)


@dataclass
class RedactionReport:
    """What ``redact_file`` did; previews are masked, raw values never appear here."""

    source: str
    destination: str
    format: str  # "text", "jsonl" or "json"
    counts: dict[str, int]  # occurrences per kind
    distinct: dict[str, int]  # distinct values (= placeholders) per kind
    lines_changed: int
    invalid_json_lines: int  # JSON lines that did not parse and were redacted as plain text
    findings: list[Finding]
    findings_truncated: bool = False  # more findings than max_findings; counts are complete

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Detectors. Each yields candidate spans in a text; find_spans settles overlaps by rank.
# --------------------------------------------------------------------------------------------

# Joins the strings of one JSON line so the detectors run once per line. No pattern matches
# across it (none accepts it).
_JOIN = "\x00"
# What a PEM body is made of: base64 lines, as real line breaks or as "\n" escapes in raw
# JSON. Private key blocks may also carry headers ("Proc-Type: 4,ENCRYPTED").
_PEM_BODY = r"(?:[A-Za-z0-9+/=\r\n]|\\[nr])"
_PEM_PRIVATE_BODY = r"(?:[A-Za-z0-9+/=\r\n :,-]|\\[nr])"
# A private key block without its END line still covers the whole base64 lines that follow.
_PEM_LINE_BREAK = r"(?:\r?\n|\\n)"
_PEM_PRIVATE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    rf"(?:{_PEM_PRIVATE_BODY}*?-----END \1-----"
    rf"|(?:{_PEM_LINE_BREAK}[A-Za-z0-9+/=]+(?={_PEM_LINE_BREAK}|\Z|[\x00\"']))*)"
)
# Certificates and public keys are not secrets, but their base64 bodies look like tokens.
_PEM_OTHER = re.compile(rf"-----BEGIN ([A-Z0-9]+(?: [A-Z0-9]+)*)-----{_PEM_BODY}*?-----END \1-----")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9]+(?: [A-Z0-9]+)*-----")
_PEM_END = re.compile(r"-----END [A-Z0-9]+(?: [A-Z0-9]+)*-----")
_NOT_A_KIND = ""  # spans of this kind are claimed (nothing else may match there), not reported

_PREFIXED_SECRET = re.compile(
    r"(?<![\w-])(?:"
    r"(?P<openai>sk-(?:proj-|svcacct-|admin-)?(?P<body>[A-Za-z0-9_-]{20,}))"
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"
    r"|gh[opsur]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[baprs]-[A-Za-z0-9-]{10,}"
    r"|AIza[A-Za-z0-9_-]{35}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
    r")(?![\w-])"
)

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-]|\.[A-Za-z0-9])"
)
# "icon@2x.png" is an asset name, not an address: these "TLDs" are file extensions.
_FILE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf"})

# Some patterns open with a digit and check the boundary after it (``\d(?<![\w-]\d)``) rather
# than opening with a lookbehind: the regex engine then skips ahead to digits much faster.
_CARD = re.compile(r"\d(?<![\w-]\d)(?<!\d[ -]\d)(?:[ -]?\d){12,18}(?![ -]?\d)(?!\w)")

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,32}")
# Lengths from the SWIFT IBAN registry (release 101), as shipped by python-stdnum.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
_SSN = re.compile(r"\d(?<![\w-]\d)\d\d(?<!000)(?<!666)(?<!9\d\d)-(?!00)\d\d-(?!0000)\d{4}(?![\w-])")

_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.(?:\d{1,3}\.){2}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?:%[0-9A-Za-z]+)?(?![\w:]|\.\d)"
)
# "version 1.2.3.4", "section 3.2.1.4", "Chrome/120.0.0.0": dotted numbers that are not hosts.
_NOT_IP_BEFORE = re.compile(
    r"(?i)(?:\b(?:v|ver|version|release|build|rev|revision|firmware|fw|section|sec|chapter|"
    r"clause|figure|fig|table|step|rule|item|art|article)\.?\s*[:=#]?\s*|§\s*|[A-Za-z]/)$"
)

_INTL_PHONE = re.compile(
    r"\+(?<![\w+]\+)\d{1,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,7}(?![\w]|[.-]\d)"
)
_NANP_PHONE = re.compile(
    r"(?<![\w+./#-])(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}"
    r"(?![\w-]|\.\d)"
)
# Digits right after these words are references, not phone or card numbers.
_ID_CONTEXT = re.compile(
    r"(?i)\b(?:order|invoice|inv|ref|reference|tracking|track|sku|serial|ticket|case|account|"
    r"acct|po|confirmation|conf|transaction|txn|batch|lot|part|item|shipment|parcel|isbn|"
    r"receipt|booking)"
    r"(?:\s*(?:no|nr|num|number|id|code)\b)?\.?\s*[:#=]?\s*(?:no\.?\s*)?$"
)

_SECRET_WORDS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|"
    r"access[_-]?key|secret[_-]?key|private[_-]?key|auth[_-]?token|access[_-]?token|"
    r"refresh[_-]?token|token"
)
_KEYWORD_SECRET = re.compile(
    rf"(?i)(?<![A-Za-z0-9])(?:{_SECRET_WORDS})[\"']?[ \t]*(?:=>|[:=])[ \t]*[\"']?"
    r"(?P<v>[^\s\"'`,;\x00]{8,})"
    r"|\bBearer[ \t]+(?P<b>[A-Za-z0-9._~+/-]{16,}=*)"
)
# Each label word contains one of these; a plain first character keeps the scan fast.
_SECRET_HINT = re.compile(r"[pPsSkKtTbB](?i:ass|wd|ecret|ey|oken|earer)")
# A JSON object key that labels its value as a secret ("password", "DB_PASSWORD", ...).
_SECRET_KEY_NAME = re.compile(rf"(?i)(?:[A-Za-z0-9]+[_-])*(?:{_SECRET_WORDS})")

_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])")
_TOKEN_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# Calibrated on 20,000 random base64, base64url and alphanumeric tokens of 32-100 characters
# against identifiers, paths and model names (AbstractSingletonProxyFactoryBeanImpl2,
# /home/alice/Projects/Tunesmith2024/data, SmolLM2-135M-Instruct-...): random tokens split
# into short case/digit runs (mean run length 1.9; 99.5% under 3.0) while names are made of
# words (3.1 and up). The entropy floor only removes repetitive strings ("aaaa...A1").
_MAX_MEAN_PART_LENGTH = 3.0
_MIN_TOKEN_ENTROPY = 3.5
# SSH public keys and data: URIs are base64 too, and not secrets.
_NOT_SECRET_BEFORE = re.compile(
    r"(?:\b(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+)\s+|;base64,)$"
)


def _find_private_keys(text: str) -> Iterator[Span]:
    if "-----BEGIN" not in text:
        return
    for m in _PEM_PRIVATE.finditer(text):
        yield Span(m.start(), m.end(), "secret", re.sub(r"\s+", "", m.group()))


def _find_public_pem_blocks(text: str) -> Iterator[Span]:
    if "-----BEGIN" not in text:
        return
    for m in _PEM_OTHER.finditer(text):
        yield Span(m.start(), m.end(), _NOT_A_KIND, "")


def _find_prefixed_secrets(text: str) -> Iterator[Span]:
    for m in _PREFIXED_SECRET.finditer(text):
        # "sk-" is a short prefix: require the body of a random key, not hyphenated words.
        if m.group("openai") and not _has_all_char_classes(m.group("body")):
            continue
        yield Span(m.start(), m.end(), "secret", m.group())


def _find_emails(text: str) -> Iterator[Span]:
    # Search only around each "@" (a local part has at most 64 characters, a domain 253):
    # scanning a whole batch with the pattern costs far more.
    done = 0
    at = text.find("@")
    while at != -1:
        m = _EMAIL.search(text, max(done, at - 64), at + 256) if at >= done else None
        if m and m.start() < at < m.end():
            done = m.end()
            if m.group().rsplit(".", 1)[1].lower() not in _FILE_EXTENSIONS:
                yield Span(m.start(), m.end(), "email", m.group().lower())
        at = text.find("@", at + 1)


def _find_cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = re.sub(r"\D", "", raw)
        if not (_card_grouping_ok(raw) and _card_brand_ok(digits) and _luhn_ok(digits)):
            continue
        if raw.isdigit() and _follows_reference_word(text, m.start()):
            continue
        yield Span(m.start(), m.end(), "credit_card", digits)


def _card_grouping_ok(raw: str) -> bool:
    """Unseparated, or groups split by one kind of separator with a 4-digit first group."""
    separators = set(re.sub(r"\d", "", raw))
    if not separators:
        return True
    if len(separators) > 1:
        return False
    groups = raw.split(separators.pop())
    return len(groups[0]) == 4 and all(1 <= len(g) <= 6 for g in groups)


# Issuer prefix ranges and the lengths each network issues. Luhn alone passes one random
# number in ten; the prefix and length also turn away IMEIs (15 digits, 35.../49...),
# timestamps and most ids.
_ANY_LENGTH = frozenset(range(13, 20))
_CARD_NETWORKS = (
    ("4", "4", frozenset({13, 16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),
    ("300", "305", _ANY_LENGTH),  # Diners Club
    ("36", "36", _ANY_LENGTH),
    ("38", "39", _ANY_LENGTH),
    ("3528", "3589", frozenset(range(16, 20))),  # JCB
    ("50", "50", _ANY_LENGTH),  # Maestro
    ("56", "69", _ANY_LENGTH),  # Maestro, Discover, UnionPay, RuPay
)


def _card_brand_ok(digits: str) -> bool:
    return any(
        low <= digits[: len(low)] <= high and len(digits) in lengths
        for low, high, lengths in _CARD_NETWORKS
    )


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _find_ibans(text: str) -> Iterator[Span]:
    for m in _IBAN.finditer(text):
        length = _IBAN_LENGTHS.get(m.group()[:2])
        if length is None:
            continue
        end = _end_after_alnum(text, m.start(), length)
        if end is None or (end < len(text) and text[end].isalnum()):
            continue
        compact = text[m.start() : end].replace(" ", "")
        if _iban_checksum_ok(compact):
            yield Span(m.start(), end, "iban", compact)


def _end_after_alnum(text: str, start: int, count: int) -> int | None:
    """Offset just past the ``count``-th alphanumeric character from ``start`` (spaces skipped).

    The IBAN pattern is greedy and may run into the next word; the country's registered length
    says where the number really ends.
    """
    seen = 0
    for i in range(start, min(len(text), start + 2 * count)):
        if text[i].isalnum():
            seen += 1
            if seen == count:
                return i + 1
        elif text[i] != " ":
            return None
    return None


def _iban_checksum_ok(iban: str) -> bool:
    """ISO 13616 mod-97: move the first four characters to the end, letters to 10..35."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _find_ssns(text: str) -> Iterator[Span]:
    if "-" not in text:
        return
    for m in _SSN.finditer(text):
        yield Span(m.start(), m.end(), "us_ssn", m.group().replace("-", ""))


def _find_ips(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        if _NOT_IP_BEFORE.search(text[max(0, m.start() - 24) : m.start()]):
            continue
        address = _ip_or_none(ipaddress.IPv4Address, m.group())
        if address is not None:
            yield Span(m.start(), m.end(), "ip_address", address)
    if text.count(":") < 2:
        return
    for m in _IPV6.finditer(text):
        address = _ip_or_none(ipaddress.IPv6Address, m.group())
        if address is not None:
            yield Span(m.start(), m.end(), "ip_address", address)


def _ip_or_none(parse: Callable[[str], Any], candidate: str) -> str | None:
    """The canonical address, or None when invalid or not about anyone.

    Loopback, unspecified and reserved addresses (0.0.0.0, 127.0.0.1, ::1, netmasks such as
    255.255.255.0) name no host or person; redacting them only damages technical text.
    """
    try:
        address = parse(candidate)
    except ValueError:
        return None
    # Judge ::ffff:192.0.2.1 by its IPv4 address (Python < 3.13 calls all of ::/8 reserved).
    host = getattr(address, "ipv4_mapped", None) or address
    if host.is_loopback or host.is_unspecified or host.is_reserved:
        return None
    return str(address)


def _find_phones(text: str) -> Iterator[Span]:
    if "+" in text:
        for m in _INTL_PHONE.finditer(text):
            found = _international_number(m.group())
            if found and not _follows_reference_word(text, m.start()):
                yield Span(m.start(), m.start() + len(found[0]), "phone", found[1])
    for m in _NANP_PHONE.finditer(text):
        if _follows_reference_word(text, m.start()):
            continue
        number = phonenumbers.parse(m.group(), _NATIONAL_REGION)
        if phonenumbers.is_possible_number(number):
            yield Span(m.start(), m.end(), "phone", _e164(number))


def _international_number(candidate: str) -> tuple[str, str] | None:
    """(matched text, E.164) for the longest prefix of ``candidate`` that is a possible number.

    The pattern is greedy ("+49 30 901820 2024" may swallow a year), so trailing groups are
    dropped until libphonenumber accepts the country code and the length.
    """
    for _ in range(3):
        if 8 <= sum(ch.isdigit() for ch in candidate) <= 15:
            with contextlib.suppress(phonenumbers.NumberParseException):
                number = phonenumbers.parse(candidate, None)
                if phonenumbers.is_possible_number(number):
                    return candidate, _e164(number)
        cut = max(candidate.rfind(" "), candidate.rfind("-"), candidate.rfind("."))
        if cut <= 3:
            return None
        candidate = candidate[:cut].rstrip(" .-(")
    return None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _follows_reference_word(text: str, start: int) -> bool:
    return _ID_CONTEXT.search(text[max(0, start - 32) : start]) is not None


def _find_keyword_secrets(text: str) -> Iterator[Span]:
    # The full pattern is slow on long text; run it only near a word that can start a label.
    done = 0
    for hint in _SECRET_HINT.finditer(text):
        if hint.start() < done:
            continue
        for m in _KEYWORD_SECRET.finditer(text, max(done, hint.start() - 24), hint.end() + 1024):
            done = m.end()
            group = "v" if m.group("v") is not None else "b"
            value = m.group(group)
            if _plausible_secret(value):
                yield Span(m.start(group), m.end(group), "secret", value)


def _plausible_secret(value: str) -> bool:
    """A labelled value that looks like a credential, not prose, a template or a placeholder."""
    if len(value) < 8 or value[0] in "$<{[%*(#" or value.isdigit() or len(set(value)) < 3:
        return False
    # "Summer2024!" or "s3cr3t-P4ss" yes; "process.env.DB_PASSWORD" or "changeme" no.
    return any(ch.isdigit() or not (ch.isalnum() or ch in "._-/") for ch in value)


def _find_entropy_secrets(text: str) -> Iterator[Span]:
    for m in _TOKEN.finditer(text):
        token = m.group().rstrip("=")
        if len(token) < 32 or _NOT_SECRET_BEFORE.search(text[max(0, m.start() - 32) : m.start()]):
            continue
        if _looks_random(token):
            yield Span(m.start(), m.end(), "secret", m.group())


def _looks_random(token: str) -> bool:
    if not _has_all_char_classes(token) or _shannon_entropy(token) < _MIN_TOKEN_ENTROPY:
        return False
    parts = _TOKEN_PARTS.findall(token)
    return sum(map(len, parts)) / len(parts) < _MAX_MEAN_PART_LENGTH


def _has_all_char_classes(text: str) -> bool:
    """Upper, lower and digit: a random token has all three; hex digests and UUIDs do not."""
    return (
        any(ch.isupper() for ch in text)
        and any(ch.islower() for ch in text)
        and any(ch.isdigit() for ch in text)
    )


def _shannon_entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


# Most specific first: a span claimed by an earlier detector cannot be claimed by a later one
# (a card is not also a phone; a key inside a PEM block is not also a token). Within one
# detector, longer candidates win.
_DETECTORS: tuple[Callable[[str], Iterable[Span]], ...] = (
    _find_private_keys,
    _find_public_pem_blocks,
    _find_prefixed_secrets,
    _find_emails,
    _find_cards,
    _find_ibans,
    _find_ssns,
    _find_ips,
    _find_phones,
    _find_keyword_secrets,
    _find_entropy_secrets,
)


def find_spans(text: str) -> list[Span]:
    """Every detected value in ``text``, without overlaps, in order of position."""
    chosen: list[Span] = []  # sorted by start, never overlapping
    starts: list[int] = []
    for detect in _DETECTORS:
        candidates = list(detect(text))
        if len(candidates) > 1:
            candidates.sort(key=lambda s: (s.start - s.end, s.start))
        for span in candidates:
            i = bisect_right(starts, span.start)
            # Only the neighbours can overlap (a log full of addresses has thousands of spans).
            if (i and chosen[i - 1].end > span.start) or (
                i < len(chosen) and chosen[i].start < span.end
            ):
                continue
            chosen.insert(i, span)
            starts.insert(i, span.start)
    return [s for s in chosen if s.kind != _NOT_A_KIND]


# --------------------------------------------------------------------------------------------
# Previews and hashes: what a report may show.
# --------------------------------------------------------------------------------------------


def _preview(kind: str, value: str) -> str:
    preview = _mask(kind, value)
    # Belt and braces: a very short value could survive masking whole.
    return preview if value not in preview else f"<{kind}>"


def _mask(kind: str, value: str) -> str:
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[0]}***@{domain[0]}***.{domain.rsplit('.', 1)[-1]}"
    if kind in ("credit_card", "us_ssn"):
        return _mask_alnum(value, keep_head=0, keep_tail=4)
    if kind == "phone":
        return _mask_alnum(value, keep_head=0, keep_tail=2)
    if kind == "iban":
        return _mask_alnum(value, keep_head=2, keep_tail=4)
    if kind == "ip_address":
        head = re.split(r"[.:]", value, maxsplit=1)[0]
        return f"{head}.*.*.*" if "." in value and ":" not in value else f"{head}:…"
    begin = _PEM_BEGIN.match(value)
    if begin:
        return f"{begin.group()}…({len(value)} chars)"
    head = value[:4] if len(value) >= 20 else ""
    return f"{head}…({len(value)} chars)"


def _mask_alnum(value: str, keep_head: int, keep_tail: int) -> str:
    """Star every letter and digit except the first/last few; keep separators for shape."""
    total = sum(ch.isalnum() for ch in value)
    out, seen = [], 0
    for ch in value:
        if ch.isalnum():
            keep = seen < keep_head or seen >= total - keep_tail
            out.append(ch if keep else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def _value_hash(kind: str, key: str) -> str:
    return hashlib.sha256(_HASH_KEY + f"{kind}\0{key}".encode()).hexdigest()[:16]


def _finding(span: Span, raw: str, line: int, column: int, path: str | None) -> Finding:
    return Finding(
        kind=span.kind,
        line=line,
        column=column,
        preview=_preview(span.kind, raw),
        path=path,
        value_hash=_value_hash(span.kind, span.key),
    )


# --------------------------------------------------------------------------------------------
# Reading: pieces of lines, grouped into units that are scanned (and rewritten) together.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    line: int  # 1-based line number
    column: int  # 0-based offset of this piece in its line (long lines come in pieces)
    text: str


@dataclass(frozen=True)
class _Segment:
    """Part of a JSON line: a string literal (``decoded`` set) or the text between literals."""

    start: int
    raw: str
    decoded: str | None


@dataclass(frozen=True)
class _Unit:
    pieces: tuple[_Piece, ...]
    segments: list[_Segment] | None  # None: scan as plain text
    invalid_json: bool = False


def _read_pieces(stream: IO[str], limit: int, first_line: int = 1) -> Iterator[_Piece]:
    line, column = first_line, 0
    while piece := stream.readline(limit):
        yield _Piece(line, column, piece)
        if piece.endswith(("\n", "\r")):
            line, column = line + 1, 0
        else:
            column += len(piece)


def _group_pem_blocks(pieces: Iterable[_Piece]) -> Iterator[tuple[_Piece, ...]]:
    """Single lines, except that a PEM block (key, certificate) travels as one group."""
    block: list[_Piece] = []
    for piece in pieces:
        if block:
            block.append(piece)
            if _PEM_END.search(piece.text) or len(block) >= _MAX_PEM_LINES:
                yield tuple(block)
                block = []
        elif _opens_pem_block(piece.text):
            block = [piece]
        else:
            yield (piece,)
    if block:
        yield tuple(block)


def _batches(groups: Iterable[tuple[_Piece, ...]]) -> Iterator[tuple[_Piece, ...]]:
    """Groups of lines joined into batches of about _BATCH_CHARS: the detectors then run once
    per batch rather than once per line, which is most of the cost on short lines. No
    detector matches across a line break except the PEM ones, which are meant to (the
    look-back for words such as "order" before a number may see the previous line)."""
    batch: list[_Piece] = []
    size = 0
    for group in groups:
        batch.extend(group)
        size += sum(len(p.text) for p in group)
        if size >= _BATCH_CHARS:
            yield tuple(batch)
            batch, size = [], 0
    if batch:
        yield tuple(batch)


def _opens_pem_block(text: str) -> bool:
    if "-----BEGIN" not in text:
        return False
    begins = list(_PEM_BEGIN.finditer(text))
    return bool(begins) and not _PEM_END.search(text, begins[-1].end())


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_LONG_NUMBER = re.compile(r"\d{13}")  # as long as the shortest card number


def _json_segments(line: str, whole_line: bool) -> list[_Segment] | None:
    """The line split into string literals and what lies between, or None if not JSON.

    JSON strings cannot span lines, so every literal of a valid document (pretty-printed or
    not) lies within one line: a ``.json`` file streams line by line like a ``.jsonl`` one.
    """
    if not line.strip():
        return None
    if whole_line:
        try:
            json.loads(line)
        except (ValueError, RecursionError):
            return None
    segments, pos = [], 0
    for m in _JSON_STRING.finditer(line):
        literal = m.group()
        try:  # most strings have no escapes: skip the decoder for them
            decoded = json.loads(literal) if "\\" in literal else literal[1:-1]
        except ValueError:
            return None
        segments += [
            _Segment(pos, line[pos : m.start()], None),
            _Segment(m.start(), m.group(), decoded),
        ]
        pos = m.end()
    segments.append(_Segment(pos, line[pos:], None))
    # A quote outside every literal means the line is not (part of) valid JSON.
    if any('"' in s.raw for s in segments if s.decoded is None):
        return None
    return segments


def _iter_units(stream: IO[str], fmt: str, first_line: int = 1) -> Iterator[_Unit]:
    if fmt == "text":
        pieces = _read_pieces(stream, _MAX_PIECE_CHARS, first_line)
        yield from (_Unit(batch, None) for batch in _batches(_group_pem_blocks(pieces)))
        return
    for piece in _read_pieces(stream, _MAX_JSON_LINE_CHARS, first_line):
        segments = _json_segments(piece.text, whole_line=fmt == "jsonl")
        yield _Unit((piece,), segments, segments is None and bool(piece.text.strip()))


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "json" if suffix == ".json" else "text"


def _open_source(path: Path) -> IO[str]:
    # newline="" keeps "\r\n" as written, so untouched lines are copied exactly.
    return open(path, encoding="utf-8", errors="replace", newline="")


# --------------------------------------------------------------------------------------------
# Processing a unit: findings, and the rewritten text when a replacer is given.
# --------------------------------------------------------------------------------------------

_Replacer = Callable[[Span], str]


@dataclass(frozen=True)
class _Result:
    text: str  # the unit as it should be written (unchanged when scanning only)
    findings: list[Finding]
    changed_lines: frozenset[int]  # lines that hold (part of) a detected value


def _process_unit(unit: _Unit, path: str | None, replace: _Replacer | None) -> _Result:
    if unit.segments is None:
        return _process_text(unit.pieces, path, replace)
    return _process_json_line(unit.pieces[0], unit.segments, path, replace)


def _process_text(
    pieces: tuple[_Piece, ...], path: str | None, replace: _Replacer | None
) -> _Result:
    text = "".join(p.text for p in pieces)
    spans = find_spans(text)
    if not spans:
        return _Result(text, [], frozenset())
    starts = list(accumulate((len(p.text) for p in pieces[:-1]), initial=0))
    findings: list[Finding] = []
    lines: set[int] = set()
    for span in spans:
        first = bisect_right(starts, span.start) - 1
        last = bisect_right(starts, span.end - 1) - 1  # a PEM block spans lines
        lines.update(p.line for p in pieces[first : last + 1])
        column = pieces[first].column + span.start - starts[first] + 1
        raw = text[span.start : span.end]
        findings.append(_finding(span, raw, pieces[first].line, column, path))
    new_text = _substitute(text, spans, replace) if replace else text
    return _Result(new_text, findings, frozenset(lines))


def _process_json_line(
    piece: _Piece, segments: list[_Segment], path: str | None, replace: _Replacer | None
) -> _Result:
    per_string = _spans_per_string([s.decoded for s in segments if s.decoded])
    long_number = _LONG_NUMBER.search(piece.text) is not None
    # Most lines hold nothing: no spans, no label word for a keyed secret, no long number.
    if not (any(per_string) or long_number or _SECRET_HINT.search(piece.text)):
        return _Result(piece.text, [], frozenset())
    spans_per_string = iter(per_string)
    parts: list[str] = []
    findings: list[Finding] = []
    last_literal: str | None = None
    key: str | None = None  # the object key whose value comes next, if any
    for seg in segments:
        found: list[Finding] = []
        if seg.decoded is None:
            text = seg.raw
            if long_number:
                text, found = _process_json_between(piece, seg, path, replace)
            key = last_literal if seg.raw.rstrip().endswith(":") else None
        else:
            spans = next(spans_per_string) if seg.decoded else []
            text, found = _process_json_string(piece, seg, spans, key, path, replace)
            last_literal, key = seg.decoded, None
        parts.append(text)
        findings += found
    return _Result("".join(parts), findings, frozenset({piece.line} if findings else ()))


def _spans_per_string(strings: list[str]) -> list[list[Span]]:
    """The spans of each string, found in one detector pass over all of them."""
    starts = list(accumulate((len(s) + len(_JOIN) for s in strings[:-1]), initial=0))
    result: list[list[Span]] = [[] for _ in strings]
    for span in find_spans(_JOIN.join(strings)):
        i = bisect_right(starts, span.start) - 1
        end = min(span.end - starts[i], len(strings[i]))  # never past its string
        result[i].append(Span(span.start - starts[i], end, span.kind, span.key))
    return result


def _process_json_string(
    piece: _Piece,
    seg: _Segment,
    spans: list[Span],
    key: str | None,
    path: str | None,
    replace: _Replacer | None,
) -> tuple[str, list[Finding]]:
    value = seg.decoded or ""
    # {"password": "hunter2!x"}: the label is in the key, a separate string from the value.
    if not spans and key and _SECRET_KEY_NAME.fullmatch(key) and _plausible_secret(value):
        spans = [Span(0, len(value), "secret", value)]
    findings = []
    for span in spans:
        # Column of the value in the raw line: opening quote, then the encoded prefix.
        offset = seg.start + 1 + len(json.dumps(value[: span.start], ensure_ascii=False)) - 2
        raw = value[span.start : span.end]
        findings.append(_finding(span, raw, piece.line, piece.column + offset + 1, path))
    if not (spans and replace):
        return seg.raw, findings
    return json.dumps(_substitute(value, spans, replace), ensure_ascii=False), findings


def _process_json_between(
    piece: _Piece, seg: _Segment, path: str | None, replace: _Replacer | None
) -> tuple[str, list[Finding]]:
    """Numbers between literals: a card stored as a JSON number becomes a placeholder string."""
    spans = []
    for m in _JSON_NUMBER.finditer(seg.raw):
        if not _LONG_NUMBER.match(m.group()):  # shorter than any card number
            continue
        for span in find_spans(m.group()):
            if span.start == 0 and span.end == len(m.group()):
                spans.append(Span(m.start(), m.end(), span.kind, span.key))
    findings = [
        _finding(
            s, seg.raw[s.start : s.end], piece.line, piece.column + seg.start + s.start + 1, path
        )
        for s in spans
    ]
    if not (spans and replace):
        return seg.raw, findings
    return _substitute(seg.raw, spans, lambda s: json.dumps(replace(s))), findings


def _substitute(text: str, spans: list[Span], replace: _Replacer) -> str:
    out, pos = [], 0
    for span in spans:
        out += [text[pos : span.start], replace(span)]
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


class _Placeholders:
    """Typed placeholders consistent within one file: the same value, the same placeholder."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self.distinct: Counter[str] = Counter()

    def __call__(self, span: Span) -> str:
        value = (span.kind, span.key)
        if value not in self._by_value:
            self.distinct[span.kind] += 1
            tag = PLACEHOLDER_TAGS[span.kind]
            self._by_value[value] = f"[{tag}_{self.distinct[span.kind]}]"
        return self._by_value[value]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def scan_text(text: str, line: int = 1) -> list[Finding]:
    """Findings in ``text``, whose first line is numbered ``line``."""
    stream = io.StringIO(text, newline="")
    units = _iter_units(stream, "text", line)
    return [f for unit in units for f in _process_unit(unit, None, None).findings]


def scan_file(path: str | os.PathLike[str]) -> Iterator[Finding]:
    """Stream the findings of a file, line by line (memory stays bounded on any size).

    ``.jsonl``/``.ndjson`` and ``.json`` files are scanned inside their decoded string values,
    the way ``redact_file`` sees them; other files as text. Bytes that are not UTF-8 are read
    as U+FFFD.
    """
    path = Path(path)
    with _open_source(path) as stream:
        for unit in _iter_units(stream, _format_of(path)):
            yield from _process_unit(unit, str(path), None).findings


def scan_summary(findings: Iterable[Finding]) -> dict[str, int]:
    """Number of findings per kind, every kind present (zero when none)."""
    counts = Counter(f.kind for f in findings)
    return {kind: counts[kind] for kind in KINDS}


def redact_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    report: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    max_findings: int = 10_000,
) -> RedactionReport:
    """Write a copy of ``src`` to ``dst`` with every detected value replaced by a placeholder.

    Placeholders are typed and consistent within the file (``[EMAIL_1]`` is the same address
    everywhere). JSON files stay valid JSON: only string values (and card numbers stored as
    numbers) change, and unchanged lines are copied byte for byte. The copy is written to a
    temporary file beside ``dst`` and renamed, so an interrupted run leaves no partial file.
    ``src`` is never modified; ``dst`` must differ from it and, unless ``overwrite``, not exist.
    The report (also written as JSON to ``report`` when given) keeps at most ``max_findings``
    findings; its counts are always complete.
    """
    src, dst = Path(src), Path(dst)
    _check_paths(src, dst, Path(report) if report is not None else None, overwrite)
    fmt = _format_of(src)
    placeholders = _Placeholders()
    counts: Counter[str] = Counter()
    findings: list[Finding] = []
    lines_changed = invalid_json = last_counted_line = 0

    def write(out: IO[str]) -> None:
        nonlocal lines_changed, invalid_json, last_counted_line
        with _open_source(src) as stream:
            for unit in _iter_units(stream, fmt):
                result = _process_unit(unit, str(src), placeholders)
                out.write(result.text)
                invalid_json += unit.invalid_json
                counts.update(f.kind for f in result.findings)
                findings.extend(result.findings[: max(0, max_findings - len(findings))])
                # Units come in line order; a long line split in pieces is counted once.
                new_lines = [n for n in result.changed_lines if n > last_counted_line]
                lines_changed += len(new_lines)
                last_counted_line = max(new_lines, default=last_counted_line)

    _atomic_write(dst, write, mode=stat.S_IMODE(src.stat().st_mode))
    result = RedactionReport(
        source=str(src),
        destination=str(dst),
        format=fmt,
        counts={kind: counts[kind] for kind in KINDS},
        distinct={kind: placeholders.distinct[kind] for kind in KINDS},
        lines_changed=lines_changed,
        invalid_json_lines=invalid_json,
        findings=findings,
        findings_truncated=sum(counts.values()) > len(findings),
    )
    if report is not None:
        payload = json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"
        _atomic_write(Path(report), lambda out: out.write(payload), mode=0o644)
    return result


def _check_paths(src: Path, dst: Path, report: Path | None, overwrite: bool) -> None:
    if not src.is_file():
        raise FileNotFoundError(f"cannot redact {src}: no such file")
    if _same_file(src, dst):
        raise ValueError(
            f"refusing to redact {src} onto itself: the source is never modified, "
            "choose another destination"
        )
    if dst.is_dir():
        raise ValueError(f"destination {dst} is a folder: give a file path")
    if dst.exists() and not overwrite:
        raise ValueError(f"destination {dst} already exists: pass overwrite=True to replace it")
    if report is not None and (_same_file(src, report) or _same_file(dst, report)):
        raise ValueError(f"report path {report} must differ from the source and destination")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links


def _atomic_write(dst: Path, write: Callable[[IO[str]], Any], mode: int) -> None:
    """Write through a temporary file in dst's folder, then rename: all of it or nothing."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
