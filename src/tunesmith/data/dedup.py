"""Exact and near-duplicate detection: normalized text hashes, and MinHash LSH over shingles.

Exact duplicates compare a 64-bit hash of the normalized text (Unicode NFKC, case-folded,
whitespace collapsed), so memory is a few dozen bytes per example. Near-duplicates compare
word 3-gram shingles with MinHash signatures (Jaccard similarity estimated from 64 hash
functions) and find candidates with LSH banding, then confirm each candidate's estimated
similarity against the threshold.

Why our own MinHash instead of `datasketch`: it is not a dependency, and the part we need
(signatures and banding) is short on top of numpy, which transformers already requires.
Everything is found after all texts are added, by sorting hashes: that keeps the index to
flat arrays of about 210 bytes per text (see `DuplicateIndex`), where a dict of LSH buckets
would need about 1.5 KB.
"""

from __future__ import annotations

import hashlib
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tunesmith.data.types import Conversation, Document

NEAR_DUPLICATE_THRESHOLD = 0.8
EVAL_LEAK_THRESHOLD = 0.7
NUM_PERM = 64
SHINGLE_WORDS = 3
_MIN_RECALL = 0.95

ShingleKind = Literal["words", "chars"]
SHINGLE_CHARS = 5
# Candidate pairs compared at once; bounds the temporary arrays to a few MB.
_CHUNK = 16384

# Random odd 64-bit multipliers, fixed so that results do not change between runs.
_RNG = np.random.default_rng(0x7E5E5)
_BYTE_VALUES = _RNG.integers(1, 1 << 63, size=256, dtype=np.uint64) | np.uint64(1)
_POSITIONS = _RNG.integers(1, 1 << 63, size=64, dtype=np.uint64) | np.uint64(1)
_GRAM = _RNG.integers(1, 1 << 63, size=SHINGLE_CHARS, dtype=np.uint64) | np.uint64(1)
# Word bytes: ASCII letters, digits and "_", and every byte of a non-ASCII character.
_IS_WORD = np.array([b >= 0x80 or chr(b).isalnum() or chr(b) == "_" for b in range(256)])
_BAND_MIX = _RNG.integers(1, 1 << 63, size=NUM_PERM + 1, dtype=np.uint64) | np.uint64(1)
_SHIFT = np.uint64(32)
_EMPTY = np.zeros(1, dtype=np.uint64)


def normalize_text(text: str) -> str:
    """Unicode NFKC, case-folded, runs of whitespace as one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def example_text(example: Conversation | Document) -> str:
    """The whole example as one text; roles are part of it, so a question and an answer that
    swap places are not the same example."""
    if isinstance(example, Document):
        return example.text
    return "\n".join(f"{m.role}: {m.content}" for m in example.messages)


def user_texts(example: Conversation | Document) -> list[str]:
    """The user turns of a conversation (what eval questions are compared with)."""
    if isinstance(example, Document):
        return []
    return [m.content for m in example.messages if m.role == "user"]


def text_key(text: str) -> int:
    """64-bit hash of the normalized text: equal keys mean exact duplicates."""
    return _key_of(_normalized_bytes(text))


def _normalized_bytes(text: str) -> bytes:
    return normalize_text(text).encode("utf-8")


def _key_of(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def shingle_hashes(text: str, kind: ShingleKind = "words") -> np.ndarray:
    """64-bit hashes of the normalized text's shingles: word 3-grams (`words`) or
    character 5-grams (`chars`, better for short questions, where one changed word would
    change most word 3-grams). A text shorter than one shingle is one shingle.

    Vectorized with numpy: hashing each shingle as a Python string cost ~1 ms per 2 KB
    example, which made checking a 50 MB file take minutes.
    """
    return _shingles_of(_normalized_bytes(text), kind)


def _shingles_of(normalized: bytes, kind: ShingleKind) -> np.ndarray:
    data = np.frombuffer(normalized, dtype=np.uint8)
    units = _word_hashes(data) if kind == "words" else _BYTE_VALUES[data]
    n = SHINGLE_WORDS if kind == "words" else SHINGLE_CHARS
    if units.size == 0:
        return _EMPTY
    n = min(n, units.size)
    count = units.size - n + 1
    grams = np.zeros(count, dtype=np.uint64)
    for j in range(n):  # wrapping uint64 arithmetic is the hash, overflow is intended
        grams += units[j : j + count] * _GRAM[j]
    return grams  # repeats are harmless: a minimum over a multiset is one over the set


def _word_hashes(data: np.ndarray) -> np.ndarray:
    """One 64-bit hash per word: the sum of its bytes' values times per-position multipliers."""
    index = np.flatnonzero(_IS_WORD[data])
    if index.size == 0:
        return index.astype(np.uint64)
    first = np.ones(index.size, dtype=bool)
    first[1:] = index[1:] != index[:-1] + 1
    starts = np.flatnonzero(first)
    position = np.arange(index.size) - starts[np.cumsum(first) - 1]
    values = _BYTE_VALUES[data[index]] * _POSITIONS[position % _POSITIONS.size]
    return np.add.reduceat(values, starts)


class MinHasher:
    """MinHash signatures: for each of `num_perm` hash functions, the minimum over the
    shingles. The share of equal positions of two signatures estimates their Jaccard.

    The hash functions are multiply-shift ((a * x + b) >> 32 on 64-bit words with odd a),
    a universal family that needs no modulo, the slow part of the textbook version.
    """

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self._a = rng.integers(1, 1 << 63, size=(num_perm, 1), dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=(num_perm, 1), dtype=np.uint64)

    def signature(self, text: str, kind: ShingleKind = "words") -> np.ndarray:
        """The text's signature as `num_perm` 32-bit values."""
        return self.of_shingles(shingle_hashes(text, kind))

    def of_shingles(self, shingles: np.ndarray) -> np.ndarray:
        """The signature of a set of 64-bit shingle hashes."""
        values = self._a * shingles
        values += self._b
        # The shift keeps order, so it can follow the minimum (one big temporary less).
        return (values.min(axis=1) >> _SHIFT).astype(np.uint32)


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows): the fewest bands (least memory) that still make at least 95% of pairs
    exactly at the threshold candidates (more above it). Candidates are confirmed by their
    estimated similarity, so a loose band choice costs time, never a false report."""
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        if bands * rows == num_perm and 1 - (1 - threshold**rows) ** bands >= _MIN_RECALL:
            return bands, rows
    return num_perm, 1


@dataclass(frozen=True)
class Match:
    """An earlier indexed text that matches: its key (a line number), the estimated
    similarity, and whether the normalized texts are equal."""

    key: int
    similarity: float
    exact: bool


class DuplicateIndex:
    """Exact and near-duplicate search over many texts, kept in flat arrays.

    Add every text first (`add`), then ask for the repeats among them (`duplicates`) or
    whether another text is in the index (`query`). Working on the whole set at the end
    rather than text by text lets numpy group equal hashes by sorting, so the index needs
    only its arrays: per text an 8-byte exact hash, an 8-byte key, the signature (128 bytes)
    and a 4-byte key per LSH band (64 bytes with the 16 bands of the default thresholds),
    about 210 bytes. A million examples need about 0.2 GB; without `near`, 16 bytes each.
    """

    def __init__(
        self,
        threshold: float = NEAR_DUPLICATE_THRESHOLD,
        *,
        near: bool = True,
        shingles: ShingleKind = "words",
        num_perm: int = NUM_PERM,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.near = near
        self.shingles = shingles
        self.hasher = MinHasher(num_perm)
        self.bands, self.rows = lsh_bands(threshold, num_perm)
        self._keys = array("q")
        self._hashes = array("Q")
        self._signatures = array("H")  # 16 bits of each value: the estimate moves < 1e-4
        self._band_keys = array("I")
        self._sorted: _Sorted | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, text: str, key: int) -> None:
        """Index a text under `key` (for example its line number)."""
        self._sorted = None
        self._keys.append(key)
        normalized = _normalized_bytes(text)  # once: it is the costly part for long texts
        self._hashes.append(_key_of(normalized))
        if self.near:
            signature = self.hasher.of_shingles(_shingles_of(normalized, self.shingles))
            self._signatures.frombytes(signature.astype(np.uint16).tobytes())
            self._band_keys.frombytes(self._bands_of(signature).tobytes())

    def duplicates(self) -> Iterator[tuple[int, Match]]:
        """(key, earlier match) for every text that repeats an earlier one, in adding order.

        Exact repeats name the first text with the same normalized text. Near repeats name,
        among the first texts of each LSH bucket they fall in, the most similar one at or
        above the threshold; so each text is compared with at most `bands` others.
        """
        if not len(self):
            return
        first_exact = _first_of_group(self._column(0))
        exact = first_exact != np.arange(len(self))
        best, similarity = self._nearest_earlier(~exact) if self.near else (None, None)
        for item in range(len(self)):
            if exact[item]:
                yield self._keys[item], Match(self._keys[first_exact[item]], 1.0, True)
            elif best is not None and best[item] >= 0:
                match = Match(self._keys[best[item]], round(float(similarity[item]), 3), False)
                yield self._keys[item], match

    def query(self, text: str) -> Match | None:
        """The earliest indexed text equal to `text` (normalized), else the most similar one
        at or above the threshold among its LSH candidates, else None."""
        if not len(self):
            return None
        index = self._index()
        found = index.find(0, text_key(text))
        if found is not None:
            return Match(self._keys[found], 1.0, True)
        if not self.near:
            return None
        signature = self.hasher.signature(text, self.shingles)
        candidates = {
            item
            for band, key in enumerate(self._bands_of(signature).tolist())
            if (item := index.find(band + 1, key)) is not None
        }
        low = signature.astype(np.uint16)
        scored = [(float(np.mean(self._signature(i) == low)), -i) for i in candidates]
        best = max(scored, default=None)
        if best is None or best[0] < self.threshold:
            return None
        return Match(self._keys[-best[1]], round(best[0], 3), False)

    def _bands_of(self, signature: np.ndarray) -> np.ndarray:
        """One 32-bit key per band; the band index is mixed in, so bands never collide."""
        rows = signature[: self.bands * self.rows].reshape(self.bands, self.rows)
        mixed = (rows.astype(np.uint64) * _BAND_MIX[: self.rows]).sum(axis=1)
        mixed += _BAND_MIX[-1] * np.arange(1, self.bands + 1, dtype=np.uint64)
        return (mixed >> _SHIFT).astype(np.uint32)

    def _signature(self, item: int) -> np.ndarray:
        width = self.hasher.num_perm
        return np.array(self._signatures[item * width : (item + 1) * width], dtype=np.uint16)

    def _column(self, position: int) -> np.ndarray:
        """Column 0: the exact hashes; column b + 1: the keys of LSH band b. Copies, so the
        arrays can still grow (an exported buffer would pin them)."""
        if position == 0:
            return np.array(self._hashes, dtype=np.uint64)
        bands = np.frombuffer(self._band_keys, np.uint32).reshape(-1, self.bands)
        return bands[:, position - 1].copy()

    def _index(self) -> _Sorted:
        if self._sorted is None:
            columns = range(1 + (self.bands if self.near else 0))
            self._sorted = _Sorted([self._column(c) for c in columns])
        return self._sorted

    def _nearest_earlier(self, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each eligible text, the most similar first-of-bucket text above the threshold
        (-1 when none) and its similarity; compared in chunks to bound temporary memory."""
        count, width = len(self), self.hasher.num_perm
        signatures = np.array(self._signatures, dtype=np.uint16).reshape(count, width)
        best = np.full(count, -1, dtype=np.int64)
        similarity = np.zeros(count)
        for band in range(self.bands):
            first = _first_of_group(self._column(band + 1))
            items = np.flatnonzero(eligible & (first != np.arange(count)))
            for chunk in np.array_split(items, max(1, items.size // _CHUNK)):
                sims = (signatures[chunk] == signatures[first[chunk]]).mean(axis=1)
                better = (sims >= self.threshold) & (sims > similarity[chunk])
                best[chunk[better]] = first[chunk[better]]
                similarity[chunk[better]] = sims[better]
        return best, similarity


def _first_of_group(column: np.ndarray) -> np.ndarray:
    """For each item, the earliest item with the same hash in `column` (itself if none)."""
    order = np.argsort(column, kind="stable")
    values = column[order]
    starts = np.ones(values.size, dtype=bool)
    starts[1:] = values[1:] != values[:-1]
    group_first = order[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    first = np.empty_like(order)
    first[order] = group_first
    return first


class _Sorted:
    """Stable sort orders of hash columns, for looking values up: earliest item first."""

    def __init__(self, columns: list[np.ndarray]) -> None:
        self.orders = [np.argsort(c, kind="stable") for c in columns]
        self.values = [c[o] for c, o in zip(columns, self.orders, strict=True)]

    def find(self, position: int, value: int) -> int | None:
        """The earliest item whose hash in column `position` equals `value`."""
        values = self.values[position]
        at = int(np.searchsorted(values, value))
        return int(self.orders[position][at]) if at < values.size and values[at] == value else None
