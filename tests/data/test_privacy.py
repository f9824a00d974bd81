"""Personal-data scanning and redaction: detection quality on a labelled corpus, then one test
per behaviour of scan and redact. All values are fake (test card numbers, example.com,
documentation IP ranges, invented keys)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from tunesmith.data import privacy
from tunesmith.data.privacy import (
    KINDS,
    find_spans,
    redact_file,
    scan_file,
    scan_summary,
    scan_text,
)

CORPUS = Path(__file__).parent / "fixtures" / "privacy" / "corpus.jsonl"

PEM_BLOCK = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAq7Bv2Lk9XzP4mT8rW1cN5dQ0yH3jF6gS2aE7uR9oZ4iV8bYx\n"
    "Kp2LmQ7vRt4WzY8bNc3FhJ6sDg1TaE5uVi0oXyZr2Hq9Wm3Ls6Jd8Fk1Pb4Ng7Tc\n"
    "-----END RSA PRIVATE KEY-----\n"
)

# One value of every kind; a fully redacted copy of this must scan clean.
SEEDED = {
    "email": "jane.doe@example.com",
    "phone": "+44 20 7946 0958",
    "credit_card": "4242 4242 4242 4242",
    "iban": "DE89 3704 0044 0532 0130 00",
    "us_ssn": "123-45-6789",
    "ip_address": "198.51.100.23",
    "secret": "AKIAIOSFODNN7EXAMPLE",
}


def load_corpus() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def expected_spans(row: dict) -> set[tuple[str, int, int]]:
    """(kind, start, end) of every occurrence of every labelled value."""
    spans = set()
    for item in row["expected"]:
        start = row["text"].find(item["value"])
        assert start >= 0, f"labelled value not in text: {item}"
        while start >= 0:
            spans.add((item["kind"], start, start + len(item["value"])))
            start = row["text"].find(item["value"], start + 1)
    return spans


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


# --------------------------------------------------------------------------------------------
# Detection quality
# --------------------------------------------------------------------------------------------


def test_corpus_precision_and_recall_per_kind() -> None:
    rows = load_corpus()
    assert len(rows) >= 120
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for row in rows:
        expected = expected_spans(row)
        found = {(s.kind, s.start, s.end) for s in find_spans(row["text"])}
        tp.update(kind for kind, *_ in found & expected)
        fp.update(kind for kind, *_ in found - expected)
        fn.update(kind for kind, *_ in expected - found)

    def ratio(num: int, den: int) -> float:
        return num / den if den else 1.0

    table = {kind: (tp[kind], fp[kind], fn[kind]) for kind in KINDS}
    table["overall"] = (sum(tp.values()), sum(fp.values()), sum(fn.values()))
    print(f"\n{'kind':<12} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}")
    for kind, (t, p, n) in table.items():
        precision, recall = ratio(t, t + p), ratio(t, t + n)
        print(f"{kind:<12} {t:>4} {p:>4} {n:>4} {precision:>9.3f} {recall:>7.3f}")
        floor = 0.95 if kind == "overall" else 0.9
        assert precision >= floor, f"{kind} precision {precision:.3f}"
        assert recall >= floor, f"{kind} recall {recall:.3f}"
    assert all(tp[kind] + fn[kind] >= 5 for kind in KINDS), "every kind needs several examples"


def test_luhn_check_decides_card_numbers() -> None:
    assert [s.kind for s in find_spans("card 4242 4242 4242 4242")] == ["credit_card"]
    assert find_spans("card 4242 4242 4242 4241") == []


def test_iban_checksum_decides_ibans_with_or_without_spaces() -> None:
    for iban in ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"):
        assert [s.kind for s in find_spans(f"IBAN {iban}.")] == ["iban"]
    assert find_spans("IBAN DE89 3704 0044 0532 0130 01.") == []


def test_most_specific_kind_wins_an_overlap() -> None:
    text = "key sk_live_Q7fK2mZr9XbL4pWd8TcN3vYh and card 4111-1111-1111-1111"
    assert [s.kind for s in find_spans(text)] == ["secret", "credit_card"]


# --------------------------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------------------------


def test_previews_never_contain_the_raw_value() -> None:
    for row in load_corpus():
        findings = scan_text(row["text"])
        dumped = json.dumps([f.to_dict() for f in findings], ensure_ascii=False)
        for item in row["expected"]:
            assert item["value"] not in dumped, item


def test_masked_previews_keep_a_recognizable_shape() -> None:
    previews = {f.kind: f.preview for f in scan_text(", ".join(SEEDED.values()))}
    assert previews["email"] == "j***@e***.com"
    assert previews["credit_card"] == "**** **** **** 4242"
    assert previews["us_ssn"] == "***-**-6789"
    assert previews["secret"] == "AKIA…(20 chars)"


def test_value_hash_groups_identical_values_only() -> None:
    a, b, c = scan_text("jane@example.com JANE@example.com john@example.com")
    assert a.value_hash == b.value_hash != c.value_hash


def test_scan_file_reports_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "notes.txt",
        "nothing here\r\n"
        "Grüße von anna@example.com\r\n"  # column counts characters, not bytes
        "\n"
        "ip 192.0.2.7 and ssn 123-45-6789\n",
    )
    found = [(f.kind, f.line, f.column, f.path) for f in scan_file(path)]
    assert found == [
        ("email", 2, 11, str(path)),
        ("ip_address", 4, 4, str(path)),
        ("us_ssn", 4, 22, str(path)),
    ]


def test_scan_file_keeps_columns_right_on_lines_read_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "_MAX_PIECE_CHARS", 16)
    path = write(tmp_path / "long.txt", "x" * 40 + " bob@example.com\nnext 192.0.2.1\n")
    assert [(f.kind, f.line, f.column) for f in scan_file(path)] == [
        ("email", 1, 42),
        ("ip_address", 2, 6),
    ]


def test_scan_text_numbers_lines_from_the_given_start() -> None:
    (finding,) = scan_text("a\nb 192.0.2.9", line=10)
    assert (finding.line, finding.column, finding.path) == (11, 3, None)


def test_scan_file_flags_a_pem_block_once_on_its_begin_line(tmp_path: Path) -> None:
    path = write(tmp_path / "key.txt", "deploy key:\n" + PEM_BLOCK + "done\n")
    assert [(f.kind, f.line, f.column) for f in scan_file(path)] == [("secret", 2, 1)]


def test_scan_summary_counts_every_kind() -> None:
    summary = scan_summary(scan_text("a@example.com b@example.com 192.0.2.1"))
    assert summary == {kind: 0 for kind in KINDS} | {"email": 2, "ip_address": 1}


def test_finding_to_dict_is_json_ready() -> None:
    (finding,) = scan_text("mail a@example.com")
    assert json.loads(json.dumps(finding.to_dict()))["kind"] == "email"


# --------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------


def test_seeded_file_is_fully_redacted(tmp_path: Path) -> None:
    lines = [f"{kind}: {value}\n" for kind, value in SEEDED.items()] + [PEM_BLOCK]
    src = write(tmp_path / "seeded.txt", "".join(lines))
    report = redact_file(src, tmp_path / "clean.txt")
    assert list(scan_file(tmp_path / "clean.txt")) == []
    assert all(report.counts[kind] >= 1 for kind in KINDS)
    clean = (tmp_path / "clean.txt").read_text(encoding="utf-8")
    assert not any(value in clean for value in SEEDED.values())


def test_placeholders_are_consistent_within_a_file(tmp_path: Path) -> None:
    src = write(
        tmp_path / "chat.txt",
        "from ann@example.com\nto bob@example.com\ncc ANN@example.com\nre: ann@example.com\n",
    )
    report = redact_file(src, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == (
        "from [EMAIL_1]\nto [EMAIL_2]\ncc [EMAIL_1]\nre: [EMAIL_1]\n"
    )
    assert (report.counts["email"], report.distinct["email"], report.lines_changed) == (4, 2, 4)


def test_same_phone_in_two_formats_gets_one_placeholder(tmp_path: Path) -> None:
    src = write(tmp_path / "calls.txt", "call (415) 555-2671 or +1 415 555 2671\n")
    redact_file(src, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "call [PHONE_1] or [PHONE_1]\n"


def test_jsonl_stays_valid_json_after_redaction(tmp_path: Path) -> None:
    records = [
        {"messages": [{"role": "user", "content": "I'm ana@example.com, call +49 30 901820"}]},
        {"text": "Ünïcödé and card 4242-4242-4242-4242\nnext line", "n": 3, "ok": True},
        {"nested": {"list": ["192.0.2.1", {"deep": 'quote " and \\ 123-45-6789'}]}},
    ]
    lines = [json.dumps(r, ensure_ascii=i % 2 == 0) + "\n" for i, r in enumerate(records)]
    src = write(tmp_path / "data.jsonl", "".join(lines))
    report = redact_file(src, tmp_path / "out.jsonl")
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert out[0]["messages"][0]["content"] == "I'm [EMAIL_1], call [PHONE_1]"
    assert out[1] == {"text": "Ünïcödé and card [CARD_1]\nnext line", "n": 3, "ok": True}
    assert out[2]["nested"]["list"] == ["[IP_1]", {"deep": 'quote " and \\ [SSN_1]'}]
    assert (report.format, report.invalid_json_lines, report.lines_changed) == ("jsonl", 0, 3)


def test_jsonl_line_that_is_not_json_is_redacted_as_text_and_counted(tmp_path: Path) -> None:
    src = write(tmp_path / "data.jsonl", '{"a": "x@example.com"}\nnot json x@example.com\n\n')
    report = redact_file(src, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_text() == ('{"a": "[EMAIL_1]"}\nnot json [EMAIL_1]\n\n')
    assert report.invalid_json_lines == 1


def test_json_document_stays_valid_and_keeps_its_layout(tmp_path: Path) -> None:
    doc = {"users": [{"email": "li@example.com", "ip": "203.0.113.5", "age": 41}]}
    src = write(tmp_path / "users.json", json.dumps(doc, indent=2) + "\n")
    redact_file(src, tmp_path / "out.json")
    text = (tmp_path / "out.json").read_text()
    assert json.loads(text) == {"users": [{"email": "[EMAIL_1]", "ip": "[IP_1]", "age": 41}]}
    assert text.count("\n") == src.read_text().count("\n")


def test_card_stored_as_a_json_number_becomes_a_placeholder_string(tmp_path: Path) -> None:
    src = write(tmp_path / "pay.jsonl", '{"card": 4242424242424242, "amount": 12.5}\n')
    redact_file(src, tmp_path / "out.jsonl")
    assert json.loads((tmp_path / "out.jsonl").read_text()) == {
        "card": "[CARD_1]",
        "amount": 12.5,
    }


def test_secret_labelled_by_its_json_key_is_redacted(tmp_path: Path) -> None:
    src = write(tmp_path / "cfg.json", '{"db_password": "Tr0ub4dor&3", "user": "svc_app"}\n')
    redact_file(src, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == {
        "db_password": "[SECRET_1]",
        "user": "svc_app",
    }


def test_pem_block_is_redacted_across_lines(tmp_path: Path) -> None:
    src = write(tmp_path / "key.md", "before\n" + PEM_BLOCK + "after 192.0.2.3\n")
    report = redact_file(src, tmp_path / "out.md")
    assert (tmp_path / "out.md").read_text() == "before\n[SECRET_1]\nafter [IP_1]\n"
    assert report.lines_changed == 5  # the four lines of the block, and the IP's line


def test_unterminated_pem_block_is_redacted_through_its_base64_lines(tmp_path: Path) -> None:
    cut = PEM_BLOCK.rsplit("-----END", 1)[0]  # the END line was lost
    src = write(tmp_path / "cut.txt", cut + "the rest of the notes\n")
    redact_file(src, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "[SECRET_1]\nthe rest of the notes\n"


def test_certificate_block_is_left_alone(tmp_path: Path) -> None:
    cert = PEM_BLOCK.replace("RSA PRIVATE KEY", "CERTIFICATE")
    src = write(tmp_path / "cert.txt", cert)
    report = redact_file(src, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == cert
    assert report.lines_changed == 0


def test_redaction_never_modifies_the_input(tmp_path: Path) -> None:
    src = tmp_path / "raw.csv"
    src.write_bytes(b"name,email\r\nAnn,ann@example.com\r\nbad \xff\xfe bytes,192.0.2.4\r\n")
    before = src.read_bytes()
    redact_file(src, tmp_path / "out.csv")
    assert src.read_bytes() == before


def test_unchanged_lines_are_copied_exactly(tmp_path: Path) -> None:
    src = write(tmp_path / "notes.tsv", "id\tnote\r\n1\tfine\r\n2\tmail a@example.com\r\n")
    redact_file(src, tmp_path / "out.tsv")
    assert (tmp_path / "out.tsv").read_bytes() == b"id\tnote\r\n1\tfine\r\n2\tmail [EMAIL_1]\r\n"


def same_file_as(src: Path, spelling: str) -> Path:
    """Another path to ``src``: itself, a path through "..", a symbolic or a hard link."""
    if spelling == "dotdot":
        (src.parent / "sub").mkdir()
        return src.parent / "sub" / ".." / src.name
    link = src.parent / f"{spelling}.txt"
    if spelling == "symlink":
        link.symlink_to(src)
    elif spelling == "hardlink":
        os.link(src, link)
    else:
        return src
    return link


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_refuses_to_redact_a_file_onto_itself(tmp_path: Path, spelling: str) -> None:
    src = write(tmp_path / "data.txt", "a@example.com\n")
    with pytest.raises(ValueError, match="onto itself"):
        redact_file(src, same_file_as(src, spelling), overwrite=True)
    assert src.read_text() == "a@example.com\n"


def test_refuses_an_existing_destination_unless_overwrite(tmp_path: Path) -> None:
    src = write(tmp_path / "data.txt", "a@example.com\n")
    dst = write(tmp_path / "out.txt", "old\n")
    with pytest.raises(ValueError, match="already exists"):
        redact_file(src, dst)
    assert dst.read_text() == "old\n"
    redact_file(src, dst, overwrite=True)
    assert dst.read_text() == "[EMAIL_1]\n"


def test_interrupted_redaction_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "data.jsonl", '{"t": "a@example.com"}\n' * 5)
    dst = write(tmp_path / "out.jsonl", "previous good copy\n")
    calls = Counter()

    def failing_find_spans(text: str) -> list:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-file
        return find_spans(text)

    monkeypatch.setattr(privacy, "find_spans", failing_find_spans)
    with pytest.raises(KeyboardInterrupt):
        redact_file(src, dst, overwrite=True)
    assert dst.read_text() == "previous good copy\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl", "out.jsonl"]


def test_report_is_written_as_json_without_raw_values(tmp_path: Path) -> None:
    src = write(tmp_path / "data.txt", "ssn 123-45-6789, mail a@example.com\n")
    redact_file(src, tmp_path / "out.txt", report=tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["us_ssn"] == report["distinct"]["email"] == 1
    assert [f["preview"] for f in report["findings"]] == ["***-**-6789", "a***@e***.com"]
    assert "123-45-6789" not in json.dumps(report) and "a@example.com" not in json.dumps(report)


def test_report_keeps_at_most_max_findings_but_complete_counts(tmp_path: Path) -> None:
    src = write(tmp_path / "many.txt", "".join(f"u{i}@example.com\n" for i in range(20)))
    report = redact_file(src, tmp_path / "out.txt", max_findings=5)
    assert (len(report.findings), report.counts["email"], report.findings_truncated) == (
        5,
        20,
        True,
    )
