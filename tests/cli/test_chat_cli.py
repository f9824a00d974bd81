import io
import json

from tunesmith.cli.main import main
from tunesmith.eval.generation import chat_replies
from tunesmith.models import load_model


def test_generate_json_matches_library_greedy_reply(tiny_model_dir, capsys):
    assert (
        main(["generate", str(tiny_model_dir), "-p", "Hello", "--max-new-tokens", "6", "--json"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    loaded = load_model(str(tiny_model_dir))
    (reply,) = chat_replies(
        loaded.model, loaded.tokenizer, [[{"role": "user", "content": "Hello"}]], max_new_tokens=6
    )
    assert data["answer"] == reply.text
    assert data["kind"] == "base model"


def test_generate_unknown_model_is_a_usage_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "nope-model", "-p", "hi"]) == 2
    assert "not found" in capsys.readouterr().err


def test_chat_keeps_going_until_exit_and_supports_reset(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n/reset\nagain\n/exit\n"))
    assert main(["chat", str(tiny_model_dir), "--max-new-tokens", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("bot>") == 2
    assert "conversation cleared" in captured.err


def test_chat_ends_cleanly_at_end_of_input(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    assert main(["chat", str(tiny_model_dir), "--max-new-tokens", "3"]) == 0


def test_generate_loads_the_model_on_the_inference_device(load_device_probe, capsys):
    assert main(["generate", "any-model", "-p", "hi"]) == 2
    assert load_device_probe["device"] == "cuda:3"


def test_generate_shows_a_run_its_answer_notes(notes_run, capsys):
    from tunesmith.data.notes import NoteIndex, as_dicts, with_notes
    from tunesmith.data.types import Message
    from tunesmith.train.artifacts import load_run

    args = ["generate", str(notes_run), "-p", "When are you open on Sundays?", "--json"]
    assert main([*args, "--max-new-tokens", "5"]) == 0
    data = json.loads(capsys.readouterr().out)
    index = NoteIndex.load(notes_run / "final" / "notes")
    question = (Message("user", "When are you open on Sundays?"),)
    assert data["notes"] == index.find(question)
    assert data["notes"][0].endswith("\nA: Basecamps open 10am to 5pm on Sundays. Happy trails!")
    run = load_run(notes_run)
    shown = as_dicts(with_notes(question, data["notes"]))
    (reply,) = chat_replies(run.model, run.tokenizer, [shown], max_new_tokens=5)
    assert data["answer"] == reply.text
    assert "answer notes" in data["kind"]


def test_generate_without_notes_shows_none(notes_run, capsys):
    args = ["generate", str(notes_run), "-p", "When are you open?", "--json", "--no-notes"]
    assert main([*args, "--max-new-tokens", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
