"""Concurrency limits: a full queue answers 429 with Retry-After; a client that goes away
frees its batch slot at once (streaming or not)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import openai
import pytest

from tunesmith.serve import batch as batching

from .conftest import QUESTION, assert_openai_error

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def narrow(tiny_model_dir):
    """A server with one batch slot and room for one waiting request."""
    from tunesmith.serve import BackgroundServer, ModelRegistry, ServerSettings, create_app

    registry = ModelRegistry(str(tiny_model_dir), name="tiny", max_batch=1, max_queue=1)
    with BackgroundServer(create_app(registry, ServerSettings())) as running:
        yield running, registry.base_engine
    registry.close()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def body(**fields):
    return {"model": "tiny", "messages": QUESTION, "max_tokens": 3, **fields}


def test_a_full_queue_answers_429_with_retry_after(narrow, monkeypatch):
    server, engine = narrow
    gate = threading.Event()
    real_decode = batching.decode

    def gated(*args, **kwargs):
        gate.wait(20)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(batching, "decode", gated)
    results: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            results.append(http.post(CHAT, json=body()).status_code)

    running = threading.Thread(target=send)
    running.start()
    wait_until(lambda: engine.stats()["running"] == 1)
    waiting = threading.Thread(target=send)
    waiting.start()
    wait_until(lambda: engine.stats()["waiting"] == 1)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            refused = http.post(CHAT, json=body())
        error = assert_openai_error(refused, 429, code="rate_limit_exceeded")
        assert refused.headers["retry-after"] == "1"
        assert error["type"] == "rate_limit_error"
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=3)
    finally:
        gate.set()
        running.join(30)
        waiting.join(30)
    assert results == [200, 200]


def slow_decode(monkeypatch, seconds: float = 0.02) -> None:
    real_decode = batching.decode

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(batching, "decode", slow)


def test_a_stream_whose_client_disconnects_frees_its_slot(narrow, monkeypatch):
    server, engine = narrow
    slow_decode(monkeypatch)  # 400 tokens would take 8 s
    before = engine.generated_tokens
    with (
        httpx.Client(base_url=server.url, timeout=30) as http,
        http.stream("POST", CHAT, json=body(max_tokens=400, stream=True)) as response,
    ):
        for line in response.iter_lines():
            if '"content":' in line and '"content":""' not in line:
                break  # got a real token: now hang up mid-stream
    wait_until(lambda: engine.stats()["running"] == 0, timeout=5)
    assert engine.generated_tokens - before < 150  # all 400 would take 8 s or more
    with httpx.Client(base_url=server.url, timeout=30) as http:  # the slot serves others now
        assert http.post(CHAT, json=body()).status_code == 200


def test_a_plain_request_whose_client_disconnects_frees_its_slot(narrow, monkeypatch):
    server, engine = narrow
    slow_decode(monkeypatch)
    before = engine.generated_tokens
    payload = httpx.Request("POST", f"{server.url}{CHAT}", json=body(max_tokens=400))
    raw = socket.create_connection((server.host, server.port))
    head = f"POST {CHAT} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(payload.content)}\r\n\r\n"
    raw.sendall(head.encode() + payload.content)
    wait_until(lambda: engine.stats()["running"] == 1)
    raw.close()
    wait_until(lambda: engine.stats()["running"] == 0, timeout=5)
    assert engine.generated_tokens - before < 200
