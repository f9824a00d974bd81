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
