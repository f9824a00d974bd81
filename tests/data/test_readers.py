import json

import pytest

from tunesmith.data.readers import detect_format, iter_records, read_examples
from tunesmith.data.types import Conversation, Document, Message
from tunesmith.errors import DataError, UsageError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def chat(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_openai_jsonl_reads_messages_with_weights_and_lines(tmp_path):
    row = chat("Hi", "Hello")
    row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    row["messages"][-1]["weight"] = 0
    path = write_jsonl(tmp_path / "d.jsonl", [chat("Q", "A"), row])
    examples = read_examples(path)
    assert examples[1] == Conversation(
        (Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello", 0)),
        source=str(path),
        line=2,
    )
    assert examples[0].line == 1


def test_openai_content_parts_are_joined(tmp_path):
    row = chat("x", "A")
    row["messages"][0]["content"] = [
        {"type": "text", "text": "Hel"},
        {"type": "text", "text": "lo"},
    ]
    path = write_jsonl(tmp_path / "d.jsonl", [row])
    assert read_examples(path)[0].messages[0].content == "Hello"


def test_alpaca_json_array_joins_input_and_keeps_element_lines(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(
        '[\n  {"instruction": "Translate", "input": "hola", "output": "hello"},\n'
        '  {\n    "instruction": "Greet", "output": "hi", "system": "Be kind."\n  }\n]\n'
    )
    first, second = read_examples(path)
    assert [m.content for m in first.messages] == ["Translate\n\nhola", "hello"]
    assert (first.line, second.line) == (2, 3)
    assert second.messages[0] == Message("system", "Be kind.")


def test_alpaca_jsonl_is_detected_and_read(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Say hi", "output": "hi"}])
    assert detect_format(path) == "alpaca"
    assert [m.role for m in read_examples(path)[0].messages] == ["user", "assistant"]


def test_sharegpt_maps_human_gpt_and_user_assistant(tmp_path):
    rows = [
        {"conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}]},
        {"conversations": [{"from": "user", "value": "Q2"}, {"from": "assistant", "value": "A2"}]},
    ]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    assert detect_format(path) == "sharegpt"
    assert [[m.role for m in e.messages] for e in read_examples(path)] == [
        ["user", "assistant"],
        ["user", "assistant"],
    ]


def test_sharegpt_json_array_is_read(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            [{"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}]
        )
    )
    assert read_examples(path)[0].messages[1] == Message("assistant", "A")


def test_csv_uses_default_question_answer_columns_and_multiline_cells(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text('Prompt,Response\n"two\nlines",A1\nQ2,A2\n', encoding="utf-8")
    first, second = read_examples(path)
    assert first.messages == (Message("user", "two\nlines"), Message("assistant", "A1"))
    assert (first.line, second.line) == (2, 4)


def test_tsv_with_configured_columns(tmp_path):
    path = tmp_path / "faq.tsv"
    path.write_text("id\tfrage\tantwort\n1\tWie?\tSo.\n", encoding="utf-8")
    (example,) = read_examples(path, question_column="frage", answer_column="antwort")
    assert example.messages == (Message("user", "Wie?"), Message("assistant", "So."))


def test_system_prompt_is_added_only_where_missing(tmp_path):
    rows = [
        {"instruction": "Q", "output": "A"},
        {"instruction": "Q2", "output": "A2", "system": "Own."},
    ]
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    first, second = read_examples(path, system_prompt="You are Northpeak support.")
    assert first.messages[0] == Message("system", "You are Northpeak support.")
    assert second.messages[0] == Message("system", "Own.")


def test_text_folder_reads_txt_and_md_files_as_documents(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Returns\n\nSixty days.\n")
    (tmp_path / "docs" / "b.txt").write_text("Shipping is free.\n")
    (tmp_path / "docs" / "skip.json").write_text("{}")
    docs = read_examples(tmp_path / "docs")
    assert [d.text for d in docs] == ["# Returns\n\nSixty days.", "Shipping is free."]
    assert all(isinstance(d, Document) for d in docs)


def test_jsonl_with_text_field_is_read_as_documents(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "Plain text."}])
    assert detect_format(path) == "text"
    assert read_examples(path) == [Document("Plain text.", str(path), 1)]


def test_eval_format_is_read_as_question_and_reference(tmp_path):
    row = {"id": "q1", "question": "Q?", "reference": "R.", "key_facts": [], "out_of_scope": False}
    path = write_jsonl(tmp_path / "eval.jsonl", [row])
    assert detect_format(path) == "eval"
    assert read_examples(path)[0].messages == (Message("user", "Q?"), Message("assistant", "R."))


def test_explicit_format_overrides_detection(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text(json.dumps({"instruction": "Q", "output": "A"}) + "\n")
    assert detect_format(path) == "text"
    assert isinstance(read_examples(path, "alpaca")[0], Conversation)


def test_ambiguous_first_record_is_a_clear_error(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{**chat("Q", "A"), "conversations": []}])
    with pytest.raises(DataError, match="fits several formats"):
        detect_format(path)


def test_unknown_keys_say_which_formats_are_expected(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"foo": 1}])
    with pytest.raises(DataError, match="cannot tell the data format"):
        detect_format(path)


def test_unknown_extension_asks_for_format(tmp_path):
    path = tmp_path / "data.bin"
    path.write_text("hello")
    with pytest.raises(DataError, match="--format"):
        detect_format(path)


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_examples(tmp_path / "nope.jsonl")


def test_read_examples_error_names_file_lines_fix_and_the_rest(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "".join(f'{{"messages": [{{"role": "user", "content": "q{i}"}}]}}\n' for i in range(8))
    )
    with pytest.raises(DataError) as caught:
        read_examples(path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 1:" in message and "line 5:" in message and "line 6:" not in message
    assert "fix:" in message
    assert "and 3 more" in message


def test_iter_records_keeps_going_after_a_bad_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"broken\n' + json.dumps(chat("Q", "A")) + "\n")
    records = list(iter_records(path))
    assert [r.line for r in records] == [1, 2]
    assert records[0].problems[0].code == "invalid_json"
    assert records[1].ok


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n" + json.dumps(chat("Q", "A")) + "\n\n")
    assert [e.line for e in read_examples(path)] == [2]


def test_large_text_file_is_split_into_bounded_documents(tmp_path, monkeypatch):
    from tunesmith.data import readers

    monkeypatch.setattr(readers, "TEXT_CHUNK_CHARS", 100)
    path = tmp_path / "big.txt"
    path.write_text("\n\n".join(f"paragraph {i} " + "x" * 60 for i in range(6)) + "\n")
    docs = read_examples(path)
    assert len(docs) == 3
    assert all(len(d.text) < 300 for d in docs)
    assert docs[1].line == 5


def codes(path, fmt="auto"):
    return [(p.code, p.line) for r in iter_records(path, fmt) for p in r.problems]


def test_sharegpt_unknown_speaker_is_unrecognized_role(tmp_path):
    rows = [{"conversations": [{"from": "bot", "value": "Q"}, {"from": "gpt", "value": "A"}]}]
    assert codes(write_jsonl(tmp_path / "s.jsonl", rows)) == [("unrecognized_role", 1)]


def test_alpaca_without_output_is_a_missing_key(tmp_path):
    rows = [{"instruction": "Q", "output": "A"}, {"instruction": "Q2"}]
    assert codes(write_jsonl(tmp_path / "a.jsonl", rows)) == [("message_missing_key", 2)]


def test_csv_empty_answer_cell_is_missing_content_at_its_line(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nQ1,A1\nQ2,\n")
    assert codes(path) == [("missing_content", 3)]


def test_csv_invalid_utf8_line_is_reported_and_skipped(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes(b"question,answer\nQ1,A1\nCaf\xe9?,Yes\n")
    records = list(iter_records(path))
    assert [(p.code, p.line) for r in records for p in r.problems] == [("invalid_utf8", 3)]
    assert [r.ok for r in records] == [True, False]


def test_json_array_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n  {"instruction": "Q", "output": "A"},\n  {"instruction" "Q2"}\n]\n')
    ((problem,),) = [r.problems for r in iter_records(path, "alpaca")]
    assert (problem.code, problem.line, problem.column) == ("invalid_json", 3, 18)


def test_empty_folder_is_an_empty_file_problem(tmp_path):
    (tmp_path / "docs").mkdir()
    assert codes(tmp_path / "docs") == [("empty_file", None)]


def test_json_file_with_one_pretty_printed_object_is_one_record(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(
        '\n{\n  "messages": [\n    {"role": "user", "content": "Q"},\n'
        '    {"role": "assistant", "content": "A"}\n  ]\n}\n'
    )
    (example,) = read_examples(path)
    assert example.line == 2
