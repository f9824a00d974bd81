import random

import numpy as np
import pytest

from tunesmith.data.dedup import (
    DuplicateIndex,
    MinHasher,
    example_text,
    lsh_bands,
    normalize_text,
    shingle_hashes,
    text_key,
    user_texts,
)
from tunesmith.data.types import Conversation, Document, Message

TENT = (
    "The Talus two person tent weighs one point six kilograms, has two doors and two "
    "vestibules, pitches in under five minutes and is covered by the Peak Promise for life. "
    "Its fly is silicone coated ripstop nylon with a hydrostatic head of three thousand "
    "millimetres, and the poles are aluminium, so it stands up to strong mountain wind."
)


def random_text(rng, words=60):
    return " ".join(
        rng.choice(
            [
                "alpha",
                "beta",
                "gamma",
                "delta",
                "eps",
                "zeta",
                "eta",
                "theta",
                "iota",
                "kappa",
                "lambda",
                "mu",
            ]
        )
        + str(rng.randint(0, 99))
        for _ in range(words)
    )


def test_normalize_folds_case_unicode_and_whitespace():
    assert normalize_text("  Ｈello\tWORLD \n\n again ") == "hello world again"


def test_text_key_ignores_case_and_spacing_only():
    assert text_key("Return window?  60 days") == text_key("return window? 60 DAYS")
    assert text_key("Return window? 60 days") != text_key("Return window? 30 days")


def test_example_text_keeps_roles_and_user_texts_are_the_user_turns():
    conv = Conversation((Message("user", "Q"), Message("assistant", "A"), Message("user", "Q2")))
    assert example_text(conv) == "user: Q\nassistant: A\nuser: Q2"
    assert user_texts(conv) == ["Q", "Q2"]
    assert user_texts(Document("text")) == []


def test_minhash_estimates_jaccard_of_word_shingles():
    a = TENT
    b = TENT.replace("under five minutes", "under six minutes")
    sa, sb = set(shingle_hashes(a).tolist()), set(shingle_hashes(b).tolist())
    true = len(sa & sb) / len(sa | sb)
    hasher = MinHasher(num_perm=256)
    estimate = float(np.mean(hasher.signature(a) == hasher.signature(b)))
    assert abs(estimate - true) < 0.1


def test_text_shorter_than_a_shingle_is_one_shingle():
    assert shingle_hashes("hi").size == 1
    assert shingle_hashes("").size == 1


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_lsh_bands_make_most_pairs_at_the_threshold_candidates(threshold):
    bands, rows = lsh_bands(threshold)
    assert bands * rows == 64
    assert 1 - (1 - threshold**rows) ** bands >= 0.95


def test_duplicates_name_the_first_exact_copy():
    index = DuplicateIndex()
    for line, text in enumerate(["one text here", "another text", "One text  here"], start=1):
        index.add(text, line)
    ((line, match),) = list(index.duplicates())
    assert (line, match.key, match.exact, match.similarity) == (3, 1, True, 1.0)


def test_duplicates_find_a_near_copy_and_its_earlier_line():
    index = DuplicateIndex()
    index.add(TENT, 10)
    index.add("Shipping to Canada takes five to eight business days.", 11)
    index.add(TENT.replace("under five minutes", "under six minutes"), 12)
    ((line, match),) = list(index.duplicates())
    assert (line, match.key, match.exact) == (12, 10, False)
    assert 0.8 <= match.similarity < 1.0


def test_unrelated_texts_are_not_duplicates():
    rng = random.Random(0)
    index = DuplicateIndex()
    for line in range(500):
        index.add(random_text(rng), line)
    assert list(index.duplicates()) == []


def test_near_false_finds_only_exact_copies():
    index = DuplicateIndex(near=False)
    index.add(TENT, 1)
    index.add(TENT.replace("five", "six"), 2)
    index.add(TENT, 3)
    assert [(line, m.key) for line, m in index.duplicates()] == [(3, 1)]


def test_query_finds_exact_then_near_then_nothing():
    index = DuplicateIndex(0.7, shingles="chars")
    index.add("Do you ship to Canada?", 1)
    index.add("Can I return trekking poles I never used after a month?", 2)
    exact = index.query("do you ship to canada?")
    near = index.query("Can I return trekking poles that I never used after a month?")
    assert (exact.key, exact.exact) == (1, True)
    assert (near.key, near.exact) == (2, False)
    assert index.query("Which colours does the Summit jacket come in?") is None


def test_adding_after_a_query_still_works():
    index = DuplicateIndex()
    index.add(TENT, 1)
    assert index.query(TENT).key == 1
    index.add("Something else entirely, with enough words to matter.", 2)
    assert index.query("Something else entirely, with enough words to matter.").key == 2


def test_threshold_must_be_a_share():
    with pytest.raises(ValueError, match="threshold"):
        DuplicateIndex(1.5)
