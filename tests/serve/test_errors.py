"""Client mistakes get a 4xx in the OpenAI error shape, never a 500 or a stack trace; the API
key guards every route but /health; admin routes need a key."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import API_KEY, QUESTION, assert_openai_error

CHAT = "/v1/chat/completions"


def chat_body(**fields):
    return {"model": "tiny", "messages": QUESTION, "max_tokens": 4, **fields}


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ('{"model": "tiny", "messages": [', None),
        ("[1, 2]", None),
        ("", None),
    ],
)
def test_malformed_json_is_a_400(http, content, param):
    response = http.post(CHAT, content=content, headers={"content-type": "application/json"})
    assert_openai_error(response, 400, param=param)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": "10"}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"model": 3}, "model"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"tools": [{"type": "function"}]}, "tools"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages.0.content",
        ),
    ],
)
def test_wrong_types_and_unknown_parameters_are_400s(http, fields, param):
    assert_openai_error(http.post(CHAT, json=chat_body(**fields)), 400, param=param)


def test_missing_model_and_unknown_model(http):
    body = chat_body()
    del body["model"]
    error = assert_openai_error(http.post(CHAT, json=body), 400, param="model")
    assert "missing" in error["message"]
    assert_openai_error(
        http.post(CHAT, json=chat_body(model="nope")), 404, code="model_not_found", param="model"
    )


def test_model_names_are_never_paths(http, tiny_model_dir):
    for name in ("../../etc/passwd", str(tiny_model_dir), "/tmp"):
        assert_openai_error(http.post(CHAT, json=chat_body(model=name)), 404)


def test_empty_messages_and_unknown_role(http):
    assert_openai_error(http.post(CHAT, json=chat_body(messages=[])), 400, param="messages")
    error = assert_openai_error(
        http.post(CHAT, json=chat_body(messages=[{"role": "wizard", "content": "hi"}])),
        400,
        param="messages.0.role",
    )
    assert "wizard" in error["message"]


def test_prompt_plus_max_tokens_over_the_context(http):
    prompt_tokens = http.post(CHAT, json=chat_body()).json()["usage"]["prompt_tokens"]
    response = http.post(CHAT, json=chat_body(max_tokens=512 - prompt_tokens + 1))
    error = assert_openai_error(response, 400, code="context_length_exceeded")
    assert "512" in error["message"] and str(prompt_tokens) in error["message"]
    assert str(513) in error["message"]
    long_prompt = [{"role": "user", "content": "word " * 600}]
    body = {"model": "tiny", "messages": long_prompt}
    assert_openai_error(http.post(CHAT, json=body), 400, code="context_length_exceeded")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 100_000}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"n": 5}, "n"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"presence_penalty": -2.5}, "presence_penalty"),
    ],
)
def test_out_of_range_values(http, fields, param):
    assert_openai_error(http.post(CHAT, json=chat_body(**fields)), 400, param=param)


def test_completion_mistakes(http):
    url = "/v1/completions"
    assert_openai_error(http.post(url, json={"model": "tiny", "prompt": ""}), 400, param="prompt")
    assert_openai_error(http.post(url, json={"model": "tiny", "prompt": []}), 400, param="prompt")
    body = {"model": "tiny", "prompt": "hi", "echo": True}
    assert_openai_error(http.post(url, json=body), 400, param="echo")
    body = {"model": "tiny", "prompt": ["a"] * 5, "n": 4}  # 20 sequences from one request
    assert_openai_error(http.post(url, json=body), 400)


def test_bodies_over_the_limit_are_413(http):
    big = chat_body(messages=[{"role": "user", "content": "x" * (1 << 20)}])
    assert_openai_error(http.post(CHAT, json=big), 413, code="request_too_large")

    def chunks():  # no Content-Length: the server counts bytes as they arrive
        yield b'{"model": "tiny", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}]}'

    headers = {"content-type": "application/json"}
    response = http.post(CHAT, content=chunks(), headers=headers)
    assert_openai_error(response, 413, code="request_too_large")


def test_unknown_routes_and_methods(http):
    assert_openai_error(http.get("/v1/nothing"), 404)
    assert_openai_error(http.get(CHAT), 405)


def test_unexpected_errors_are_a_generic_500_without_details(http, registry, monkeypatch):
    def broken(name):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(registry, "get", broken)
    response = http.post(CHAT, json=chat_body())
    error = assert_openai_error(response, 500)
    assert "secret" not in response.text
    assert error["type"] == "server_error"


# --- API key ----------------------------------------------------------------------------------


def test_every_route_but_health_needs_the_key(keyed_server):
    with httpx.Client(base_url=keyed_server.url, timeout=30) as plain:
        assert plain.get("/health").json() == {"status": "ok"}
        for method, path in [
            ("GET", "/v1/models"),
            ("GET", "/v1/models/tiny"),
            ("POST", CHAT),
            ("POST", "/v1/completions"),
            ("POST", "/admin/runs"),
            ("DELETE", "/admin/runs/alpha"),
            ("GET", "/no/such/route"),
        ]:
            response = plain.request(method, path, json=chat_body())
            assert_openai_error(response, 401, code="invalid_api_key")
        wrong = {"Authorization": "Bearer not-the-key"}
        assert_openai_error(plain.get("/v1/models", headers=wrong), 401)
        right = {"Authorization": f"Bearer {API_KEY}"}
        assert plain.get("/v1/models", headers=right).status_code == 200


def test_the_openai_client_with_and_without_the_key(keyed_server):
    url = f"{keyed_server.url}/v1"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
    good = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
    reply = good.chat.completions.create(model="tiny", messages=QUESTION, max_tokens=3)
    assert reply.usage.completion_tokens == 3


def test_admin_routes_are_refused_without_a_configured_key(http, trained_runs):
    body = {"name": "gamma", "path": str(trained_runs["beta"])}
    assert_openai_error(http.post("/admin/runs", json=body), 403, code="admin_disabled")
    assert_openai_error(http.delete("/admin/runs/alpha"), 403)
