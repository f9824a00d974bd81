"""The real server through the official OpenAI client: models, chat, streaming, completions,
adapters chosen per request, and a freeze run served as its own model."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tunesmith.serve import batch as batching

from .conftest import QUESTION


def chat(client, model: str, messages=QUESTION, **options):
    return client.chat.completions.create(model=model, messages=messages, **options)


def test_models_lists_the_base_and_every_run(client):
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"tiny", "alpha", "beta", "frozen"}
    kinds = {name: m.model_extra["kind"] for name, m in models.items()}
    assert kinds == {"tiny": "base", "alpha": "lora", "beta": "lora", "frozen": "freeze"}
    assert client.models.retrieve("beta").id == "beta"


def test_each_model_answers_like_the_run_loaded_alone(client, reference):
    answers = {}
    for name in ("tiny", "alpha", "beta", "frozen"):
        response = chat(client, name, max_tokens=12)
        (expected,) = reference(name, [QUESTION], 12)
        choice = response.choices[0]
        assert choice.message.content.strip() == expected.text, name
        assert choice.finish_reason == ("stop" if expected.stopped else "length")
        assert response.usage.completion_tokens == expected.new_tokens + int(expected.stopped)
        assert response.usage.total_tokens == response.usage.prompt_tokens + (
            response.usage.completion_tokens
        )
        answers[name] = choice.message.content
    assert len(set(answers.values())) == 4  # the adapters really differ from each other
    assert answers["alpha"].startswith("The store is on Main Street")
    assert answers["beta"].startswith("Ahoy!")


def test_interleaved_concurrent_requests_share_batches_and_keep_their_adapter(
    client, reference, monkeypatch
):
    sizes: list[int] = []
    real_decode = batching.decode

    def recording_decode(model, batch, cache_key, extra):
        sizes.append(len(batch.rows))
        return real_decode(model, batch, cache_key, extra)

    monkeypatch.setattr(batching, "decode", recording_decode)
    questions = ["Where is the store?", "Hi", "What time do you open on a long Sunday?"]
    jobs = [(name, q) for q in questions for name in ("alpha", "tiny", "beta")]

    def ask(job):
        name, question = job
        messages = [{"role": "user", "content": question}]
        return chat(client, name, messages, max_tokens=10).choices[0].message.content

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(ask, jobs))
    for (name, question), answer in zip(jobs, answers, strict=True):
        (expected,) = reference(name, [[{"role": "user", "content": question}]], 10)
        assert answer.strip() == expected.text, (name, question)
    assert max(sizes) > 1  # requests were decoded together


def test_streaming_chat_delivers_the_same_answer_in_pieces(client):
    whole = chat(client, "beta", max_tokens=12).choices[0].message.content
    stream = chat(
        client, "beta", max_tokens=12, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == whole
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] in ("stop", "length") and not any(finals[:-1])
    assert chunks[-1].usage.completion_tokens > 0


def test_stream_ends_with_done_and_chunks_are_openai_shaped(http):
    body = {"model": "alpha", "messages": QUESTION, "max_tokens": 5, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    first = json.loads(lines[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"


def test_tokens_stream_while_generation_is_still_running(client, monkeypatch):
    gate = threading.Event()
    real_decode = batching.decode

    def gated_decode(*args, **kwargs):
        gate.wait(10)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(batching, "decode", gated_decode)
    stream = chat(client, "alpha", max_tokens=6, stream=True)
    try:
        received = ""
        for chunk in stream:  # the first token comes from the prompt pass; decoding is held
            received += chunk.choices[0].delta.content or ""
            if received:
                break
        assert received and not gate.is_set()
    finally:
        gate.set()
        stream.close()


def test_text_completions_plain_and_streamed(client):
    response = client.completions.create(model="alpha", prompt="The store", max_tokens=6)
    assert response.object == "text_completion"
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 6
    streamed = client.completions.create(
        model="alpha", prompt="The store", max_tokens=6, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == response.choices[0].text
    several = client.completions.create(model="tiny", prompt=["a", "b c d"], max_tokens=3, n=2)
    assert [c.index for c in several.choices] == [0, 1, 2, 3]
    assert several.choices[0].text == several.choices[1].text  # greedy: both choices agree


def test_stop_string_cuts_the_answer_before_it(client):
    response = chat(client, "alpha", max_tokens=12, stop=["Main"])
    choice = response.choices[0]
    assert choice.message.content.rstrip() == "The store is on"
    assert choice.finish_reason == "stop"
    stream = chat(client, "alpha", max_tokens=12, stop="Main", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream).rstrip() == "The store is on"


def test_sampling_is_reproducible_with_a_seed_and_choices_differ(client):
    options = {"max_tokens": 8, "temperature": 1.5, "n": 3, "seed": 7}
    first = [c.message.content for c in chat(client, "tiny", **options).choices]
    again = [c.message.content for c in chat(client, "tiny", **options).choices]
    assert first == again
    assert len(set(first)) > 1


@pytest.mark.parametrize("penalty", ["frequency_penalty", "presence_penalty"])
def test_penalties_change_a_repetitive_answer(client, penalty):
    plain = chat(client, "alpha", max_tokens=16).choices[0].message.content
    penalised = chat(client, "alpha", max_tokens=16, **{penalty: 2.0}).choices[0].message.content
    assert penalised != plain
