"""The pieces on their own: text release with stop strings, sampling, the bind rule, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunesmith.cli.main import main
from tunesmith.errors import UsageError
from tunesmith.serve import check_bind, is_loopback
from tunesmith.serve.sampling import SamplingParams, apply_penalties, sample_token
from tunesmith.serve.text import TextStream


class CharTokenizer:
    """One token per character; ids above 0x10FFFF stand for half of a two-token character."""

    def decode(self, ids, skip_special_tokens=True):
        text = ""
        for i, token in enumerate(ids):
            if token == -1:  # first half of "é": incomplete until the next token
                text += "\ufffd" if i == len(ids) - 1 else ""
            elif token == -2:
                text += "é"
            else:
                text += chr(token)
        return text


def push_all(stream: TextStream, text: str) -> tuple[list[str], bool]:
    pieces = []
    for char in text:
        piece, stopped = stream.push(ord(char))
        pieces.append(piece)
        if stopped:
            return pieces, True
    return pieces, False


def test_text_is_released_as_it_settles():
    stream = TextStream(CharTokenizer())
    assert push_all(stream, "abc") == (["a", "b", "c"], False)
    assert stream.push(-1) == ("", False)  # half a character is held back
    assert stream.push(-2) == ("é", False)


def test_a_stop_string_ends_the_text_before_it_even_across_tokens():
    stream = TextStream(CharTokenizer(), stops=("END",))
    pieces, stopped = push_all(stream, "abENxEND tail")
    assert stopped
    assert "".join(pieces) == "abENx"
    assert pieces[2:4] == ["", ""]  # "E", "EN" could start the stop: held back, then released


def test_flush_releases_what_was_held_back():
    stream = TextStream(CharTokenizer(), stops=("xyz",))
    pieces, stopped = push_all(stream, "abx")
    assert not stopped and "".join(pieces) == "ab"
    assert stream.flush() == "x"


def test_greedy_sampling_takes_the_top_token_and_top_p_keeps_the_head():
    logits = torch.tensor([0.0, 5.0, 1.0, 4.9])
    assert sample_token(logits, SamplingParams(max_tokens=1), None) == 1
    params = SamplingParams(max_tokens=1, temperature=1.0, top_p=0.5)
    generator = torch.Generator().manual_seed(0)
    picks = {sample_token(logits.clone(), params, generator) for _ in range(50)}
    assert picks == {1}  # token 1 alone holds over half the mass


def test_penalties_follow_the_openai_formula():
    logits = torch.zeros(4)
    params = SamplingParams(max_tokens=1, presence_penalty=0.5, frequency_penalty=1.0)
    apply_penalties(logits, [2, 2, 3], params)
    assert logits.tolist() == [0.0, 0.0, -2.5, -1.5]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses(host):
    assert is_loopback(host)
    check_bind(host, None, False)


def test_other_addresses_need_a_key_or_insecure():
    assert not is_loopback("0.0.0.0")
    with pytest.raises(UsageError, match="API key"):
        check_bind("0.0.0.0", None, False)
    check_bind("0.0.0.0", "key", False)
    check_bind("192.0.2.10", None, True)


def test_cli_refuses_an_open_bind_before_loading_anything(capsys, monkeypatch):
    monkeypatch.delenv("TUNESMITH_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--model", "not-a-model"]) == 2
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err
    assert main(["serve", "--run", "no-equals-sign"]) == 2
    assert "NAME=RUN_DIR" in capsys.readouterr().err


def test_removing_adapters_one_by_one_keeps_the_rest_serving(
    tiny_model_dir, trained_runs, reference
):
    import asyncio

    from tunesmith.serve import ModelRegistry
    from tunesmith.serve.engine import Delta, Finished, GenerationRequest
    from tunesmith.serve.routes import _chat_prompt
    from tunesmith.serve.schemas import ChatMessage

    from .conftest import QUESTION

    registry = ModelRegistry(str(tiny_model_dir), name="tiny", max_batch=2, max_queue=2)

    def answer(name: str) -> str:
        served = registry.get(name)
        prompt = _chat_prompt(served, [ChatMessage(**m) for m in QUESTION])

        async def generate() -> str:
            work = GenerationRequest([prompt], SamplingParams(max_tokens=8), adapter=served.adapter)
            served.engine.submit(work)
            text = ""
            while True:
                event = await asyncio.wait_for(work.events.get(), 10)
                if isinstance(event, Delta):
                    text += event.text
                if isinstance(event, Finished):
                    return text.strip()

        return asyncio.run(generate())

    try:
        registry.add_run("first", trained_runs["alpha"])
        registry.add_run("second", trained_runs["beta"])
        registry.remove_run("first")  # the active adapter goes first
        assert answer("second") == reference("beta", [QUESTION], 8)[0].text
        registry.remove_run("second")
        assert answer("tiny") == reference("tiny", [QUESTION], 8)[0].text
        assert not registry.base_engine.mixed_adapters
    finally:
        registry.close()


def test_a_served_run_with_notes_shows_them_in_every_chat_prompt(tiny_model_dir, notes_run):
    from tunesmith.data.notes import NOTES_HEADER
    from tunesmith.serve import ModelRegistry
    from tunesmith.serve.routes import _chat_prompt
    from tunesmith.serve.schemas import ChatMessage

    models = ModelRegistry(str(tiny_model_dir), name="tiny", max_batch=2, max_queue=2)
    try:
        served = models.add_run("noted", notes_run)
        assert served.to_dict()["notes"] == 2
        question = ChatMessage(role="user", content="What does shipping cost?")
        prompt = served.tokenizer.decode(_chat_prompt(served, [question]))
        assert NOTES_HEADER in prompt
        assert "Shipping is $4.95, free on orders over $75." in prompt
    finally:
        models.close()


def test_a_served_run_ranks_its_notes_as_eval_and_chat_do(tiny_model_dir, notes_run, tmp_path):
    import shutil

    import yaml

    from tunesmith.data.notes import Message
    from tunesmith.serve import ModelRegistry
    from tunesmith.train.artifacts import load_run

    run = Path(shutil.copytree(notes_run, tmp_path / "ranked"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["notes"]["rerank_weight"] = 0.5
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    questions = ["What does shipping cost?", "Sunday hours?", "Can I rent a tent?"]
    models = ModelRegistry(str(tiny_model_dir), name="tiny", max_batch=2, max_queue=2)
    try:
        served = models.add_run("noted", run).notes
        assert served.reranker is not None and served.rerank_weight == 0.5
        loaded = load_run(run).notes
        for question in questions:
            asked = [Message("user", question)]
            assert served.find(asked) == loaded.find(asked)
    finally:
        models.close()


def test_a_server_told_not_to_show_notes_serves_the_run_without(tiny_model_dir, notes_run):
    from tunesmith.serve import ModelRegistry

    models = ModelRegistry(str(tiny_model_dir), name="tiny", max_queue=2, notes=False)
    try:
        assert models.add_run("plain", notes_run).notes is None
    finally:
        models.close()
