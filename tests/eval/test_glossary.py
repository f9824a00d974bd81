"""The brand-voice glossary: loading with clear errors, whole-word terms, adherence rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.errors import DataError, UsageError
from tunesmith.eval.glossary import Glossary, PreferredTerm

NORTHPEAK = Path(__file__).parents[2] / "examples" / "northpeak" / "glossary.yaml"
SIGN_OFF = "— Happy trails, the Northpeak crew"


@pytest.fixture
def glossary() -> Glossary:
    return Glossary(
        preferred=(
            PreferredTerm("member", ("customer", "customers")),
            PreferredTerm("basecamp", ("store", "stores")),
            PreferredTerm("Member Care", ("customer service",)),
        ),
        banned=("stores", "unfortunately", "sorry for the inconvenience"),
        sign_off=SIGN_OFF,
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "glossary.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_northpeak_glossary_loads():
    glossary = Glossary.load(NORTHPEAK)
    assert glossary.sign_off == SIGN_OFF
    assert PreferredTerm("basecamp", ("store", "stores", "shop", "outlet", "branch")) in (
        glossary.preferred
    )
    assert "unfortunately" in glossary.banned


def test_a_preferred_term_may_be_plain_text(tmp_path):
    glossary = Glossary.load(_write(tmp_path, "preferred: [basecamp]\n"))
    assert glossary.preferred == (PreferredTerm("basecamp"),)


def test_missing_file_is_a_usage_error_naming_it(tmp_path):
    with pytest.raises(UsageError, match="nope.yaml does not exist"):
        Glossary.load(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = _write(tmp_path, "banned:\n  - cheap\n  - [unclosed\n")
    with pytest.raises(DataError, match=r"glossary.yaml: invalid YAML at line \d"):
        Glossary.load(path)


def test_wrong_type_names_the_file_and_key(tmp_path):
    path = _write(tmp_path, "preferred:\n  - term: member\n    instead_of: customer\n")
    with pytest.raises(
        DataError, match=r"glossary.yaml: `preferred\[0\].instead_of` must be a list"
    ):
        Glossary.load(path)


def test_empty_term_names_the_key(tmp_path):
    with pytest.raises(DataError, match=r"`banned\[1\]` must be non-empty text"):
        Glossary.load(_write(tmp_path, "banned: [cheap, '']\n"))


def test_unknown_key_is_an_error_listing_allowed_keys(tmp_path):
    with pytest.raises(DataError, match="unknown glossary key `signoff`") as caught:
        Glossary.load(_write(tmp_path, "signoff: bye\n"))
    assert "sign_off" in str(caught.value)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="the glossary is empty"):
        Glossary.load(_write(tmp_path, "# nothing\n"))


def test_banned_term_matches_whole_words_only(glossary):
    assert glossary.check("Our crew restores old boots.").banned_used == []
    assert glossary.check("Visit one of our stores.").banned_used == ["stores"]


def test_terms_match_case_insensitively_across_whitespace(glossary):
    check = glossary.check("UNFORTUNATELY, Sorry for\nthe  inconvenience.")
    assert check.banned_used == ["unfortunately", "sorry for the inconvenience"]


def test_check_lists_preferred_and_replaced_terms(glossary):
    check = glossary.check("Every member can call customer service or visit a basecamp.")
    assert check.preferred_used == ["member", "basecamp"]
    assert check.replaced_terms_used == ["customer", "customer service"]
    assert not check.adheres


def test_a_possessive_still_matches_the_term(glossary):
    assert glossary.check("The customer's order").replaced_terms_used == ["customer"]


def test_sign_off_counts_only_at_the_end(glossary):
    assert glossary.signed_off(f"Sure thing.\n\n{SIGN_OFF}")
    assert glossary.signed_off("Sure thing.\n- happy trails, the northpeak crew!")
    assert not glossary.signed_off(f"{SIGN_OFF}\nAnd one more thing.")
    assert not glossary.signed_off("Sure thing.")


def test_sign_off_is_none_when_the_glossary_has_none():
    assert Glossary(banned=("cheap",)).signed_off("anything") is None


def test_adherence_rates(glossary):
    answers = [
        f"A member can return it at any basecamp.\n\n{SIGN_OFF}",  # clean, preferred, signed
        "Unfortunately the store is closed.",  # banned + replaced
        "Call customer service.",  # replaced only
        "Yes.",  # clean, no preferred term
    ]
    rates = glossary.adherence(answers)
    assert rates.n == 4
    assert rates.adherence == 0.5
    assert rates.banned_term_rate == 0.25
    assert rates.replaced_term_rate == 0.5
    assert rates.preferred_rate == 0.25
    assert rates.sign_off_rate == 0.25


def test_adherence_of_no_answers_is_none(glossary):
    rates = glossary.adherence([])
    assert rates.adherence is None
    assert rates.sign_off_rate is None
