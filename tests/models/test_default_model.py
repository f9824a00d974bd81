"""The real embedded default model (SmolLM2-135M-Instruct, 4-bit GGUF). Slow: loads 135M weights."""

import json

import pytest

from tunesmith.cli.main import main
from tunesmith.eval.generation import chat_replies
from tunesmith.models import gguf_cache, load_model, model_info

pytestmark = pytest.mark.slow


@pytest.fixture
def home(shared_home, monkeypatch):
    monkeypatch.setenv("TUNESMITH_HOME", str(shared_home))
    return shared_home


def test_show_json_reports_the_default_model(home, capsys):
    assert main(["models", "show", "smollm2-135m-instruct", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"] == pytest.approx(134.5e6, abs=0.1e6)
    assert data["layers"] == 30
    assert data["model_type"] == "llama"
    assert data["hidden_size"] == 576
    assert data["vocab_size"] == 49152
    assert data["context_length"] == 8192
    assert data["chat_template"] is True
    assert data["cache_path"].startswith(str(home))


def test_cache_is_a_plain_hugging_face_folder(home):
    info = model_info("smollm2-135m-instruct")
    files = {path.name for path in gguf_cache.Path(info.folder).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", gguf_cache.CACHE_MARKER} <= files
    assert info.source_sha256 and len(info.source_sha256) == 64


def test_second_load_reads_the_cache_without_converting(home, monkeypatch):
    model_info("smollm2-135m-instruct")  # converts if this test runs first

    def no_conversion(path, dest):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(gguf_cache, "_convert", no_conversion)
    assert model_info("smollm2-135m-instruct").layers == 30


def test_default_model_answers_capital_of_france(home):
    loaded = load_model("smollm2-135m-instruct")
    conversation = [{"role": "user", "content": "What is the capital of France?"}]
    (reply,) = chat_replies(loaded.model, loaded.tokenizer, [conversation], max_new_tokens=32)
    assert "Paris" in reply.text
    assert reply.stopped
