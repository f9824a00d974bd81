"""The endpoints: models, chat and text completions (plain or streamed), health, admin."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from tunesmith.errors import TunesmithError
from tunesmith.eval.generation import render_prompt
from tunesmith.serve.app import ServerSettings
from tunesmith.serve.engine import Delta, Failed, Finished, GenerationRequest
from tunesmith.serve.errors import APIError, error_body
from tunesmith.serve.registry import InvalidName, ModelRegistry, NameTaken, ServedModel
from tunesmith.serve.sampling import SamplingParams
from tunesmith.serve.schemas import (
    AddRunRequest,
    ChatMessage,
    ChatRequest,
    CompletionRequest,
    GenerationFields,
)

router = APIRouter()

CLIENT_GONE = Failed("the client disconnected")  # wakes a waiting handler; sent to nobody


def _registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def _settings(request: Request) -> ServerSettings:
    return request.app.state.settings


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [m.to_dict() for m in _registry(request).models()]}


@router.get("/v1/models/{name}")
async def get_model(name: str, request: Request) -> dict[str, Any]:
    return _registry(request).get(name).to_dict()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request) -> Response:
    served = _registry(request).get(body.model)
    # Finding and ranking the notes runs models: off the event loop.
    prompt = await run_in_threadpool(_chat_prompt, served, body.messages)
    default = _settings(request).default_chat_max_tokens
    work = _submit(served, [prompt], body, body.token_cap(), default)
    return await _respond(work, _Shape("chat.completion", body.model), body, request)


@router.post("/v1/completions", response_model=None)
async def completions(body: CompletionRequest, request: Request) -> Response:
    served = _registry(request).get(body.model)
    prompts = [_text_prompt(served, text) for text in body.prompt_list()]
    default = _settings(request).default_completion_max_tokens
    work = _submit(served, prompts, body, body.token_cap(), default)
    return await _respond(work, _Shape("text_completion", body.model), body, request)


@router.post("/admin/runs", status_code=201)
def add_run(body: AddRunRequest, request: Request) -> dict[str, Any]:
    """Serve another run without a restart (sync: loading takes a while, so a worker thread)."""
    try:
        served = _registry(request).add_run(body.name, body.path)
    except NameTaken as exc:
        raise APIError(409, exc.message, param="name", code="name_taken") from None
    except InvalidName as exc:
        message = f"{exc.message} ({exc.hint})"
        raise APIError(400, message, param="name", code="invalid_value") from None
    except TunesmithError as exc:
        message = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        raise APIError(400, message, param="path", code="invalid_run") from None
    return served.to_dict()


@router.delete("/admin/runs/{name}")
def remove_run(name: str, request: Request) -> dict[str, Any]:
    try:
        _registry(request).remove_run(name)
    except TunesmithError as exc:
        raise APIError(400, exc.message, param="name", code="invalid_value") from None
    return {"id": name, "object": "model", "deleted": True}


# --- prompts and limits ----------------------------------------------------------------------


def _chat_prompt(served: ServedModel, messages: list[ChatMessage]) -> list[int]:
    conversation = [{"role": m.role, "content": m.text()} for m in messages]
    if served.notes is not None:
        conversation = served.notes.annotate_dicts(conversation)
    try:
        text = render_prompt(served.tokenizer, conversation)
    except Exception as exc:  # the template's own checks (role order, ...) are client errors
        raise APIError(
            400, f"the chat template rejected the messages: {exc}", param="messages"
        ) from None
    return served.tokenizer(text, add_special_tokens=False)["input_ids"]


def _text_prompt(served: ServedModel, text: str) -> list[int]:
    ids = served.tokenizer(text)["input_ids"]
    if not ids:
        raise APIError(400, "prompt must not be empty", param="prompt")
    return ids


def _submit(
    served: ServedModel,
    prompts: list[list[int]],
    body: GenerationFields,
    cap: int | None,
    default_cap: int,
) -> GenerationRequest:
    max_tokens = _token_budget(
        max(len(p) for p in prompts), cap, served.context_length, default_cap
    )
    params = SamplingParams(
        max_tokens=max_tokens,
        temperature=0.0 if body.temperature is None else body.temperature,
        top_p=1.0 if body.top_p is None else body.top_p,
        stop=body.stop_list(),
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
    )
    work = GenerationRequest(prompts, params, n=body.n, adapter=served.adapter)
    served.engine.submit(work)
    return work


def _token_budget(prompt_tokens: int, cap: int | None, context: int, default_cap: int) -> int:
    """max_tokens for the request; refuse what cannot fit the model's context."""
    if cap is not None and cap > context:
        raise APIError(
            400,
            f"max_tokens is {cap}, more than this model's context length of {context} tokens",
            param="max_tokens",
            code="invalid_value",
        )
    if cap is None:
        cap = max(1, min(default_cap, context - prompt_tokens))
    if prompt_tokens + cap > context:
        raise APIError(
            400,
            f"This model's maximum context length is {context} tokens. However, you requested "
            f"{prompt_tokens + cap} tokens ({prompt_tokens} in the prompt, {cap} for the "
            "completion). Please reduce the length of the prompt or of max_tokens.",
            param="messages",
            code="context_length_exceeded",
        )
    return cap


# --- answers ---------------------------------------------------------------------------------


class _Shape:
    """The envelope of one answer (id, object type, model, time) and its choice shapes."""

    def __init__(self, kind: str, model: str) -> None:
        prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex[:24]}"
        self.kind = kind
        self.model = model
        self.created = int(time.time())

    @property
    def chat(self) -> bool:
        return self.kind == "chat.completion"

    def body(self, choices: list[dict[str, Any]], usage: dict[str, int] | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": self.kind,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
            "usage": usage,
        }

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        body = self.body(choices, usage)
        if self.chat:
            body["object"] = "chat.completion.chunk"
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def choice(self, index: int, text: str, reason: str | None) -> dict[str, Any]:
        """A choice of a complete (non-streamed) answer."""
        if self.chat:
            message = {"role": "assistant", "content": text}
            return {"index": index, "message": message, "logprobs": None, "finish_reason": reason}
        return {"index": index, "text": text, "logprobs": None, "finish_reason": reason}

    def piece(self, index: int, text: str | None, reason: str | None = None) -> dict[str, Any]:
        """A choice of a streamed chunk: new text, or the finish reason."""
        if self.chat:
            delta = {} if text is None else {"content": text}
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {"index": index, "text": text or "", "logprobs": None, "finish_reason": reason}


def _usage(work: GenerationRequest, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": work.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": work.prompt_tokens + completion_tokens,
    }


async def _respond(
    work: GenerationRequest, shape: _Shape, body: GenerationFields, request: Request
) -> Response:
    """The whole answer as JSON, or server-sent events as it is generated."""
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return _EventStream(_stream(work, shape, include_usage), work)
    texts, reasons, tokens = await _collect(work, request)
    if texts is None:
        return Response(status_code=499)  # the client is gone; nobody reads this
    choices = [shape.choice(i, text, reasons[i]) for i, text in enumerate(texts)]
    return JSONResponse(shape.body(choices, _usage(work, tokens)))


async def _collect(
    work: GenerationRequest, request: Request
) -> tuple[list[str] | None, list[str | None], int]:
    """Wait for every choice; stop the work if the client disconnects meanwhile."""
    texts: list[list[str]] = [[] for _ in range(work.width)]
    reasons: list[str | None] = [None] * work.width
    tokens, open_choices = 0, work.width
    watcher = asyncio.create_task(_hang_up_on_disconnect(request, work))
    try:
        while open_choices:
            event = await work.events.get()
            if event is CLIENT_GONE:
                return None, reasons, tokens
            if isinstance(event, Failed):
                raise APIError(503, event.message, type="server_error")
            if isinstance(event, Delta):
                texts[event.index].append(event.text)
            elif isinstance(event, Finished):
                reasons[event.index] = event.reason
                tokens += event.tokens
                open_choices -= 1
    finally:
        watcher.cancel()
        work.cancel()  # a no-op once every choice has finished
    return ["".join(parts) for parts in texts], reasons, tokens


async def _hang_up_on_disconnect(request: Request, work: GenerationRequest) -> None:
    """The body has been read, so the next ASGI message is the client's disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    work.cancel()
    work.events.put_nowait(CLIENT_GONE)


async def _stream(
    work: GenerationRequest, shape: _Shape, include_usage: bool
) -> AsyncIterator[str]:
    """Server-sent events: one chunk per piece of text as it is decoded, then [DONE]."""
    try:
        if shape.chat:
            opening = [
                {**shape.piece(i, ""), "delta": {"role": "assistant", "content": ""}}
                for i in range(work.width)
            ]
            yield shape.chunk(opening)
        tokens, open_choices = 0, work.width
        while open_choices:
            event = await work.events.get()
            if isinstance(event, Failed):
                yield f"data: {json.dumps(error_body(event.message, 'server_error'))}\n\n"
                break
            if isinstance(event, Delta):
                yield shape.chunk([shape.piece(event.index, event.text)])
            elif isinstance(event, Finished):
                yield shape.chunk([shape.piece(event.index, None, event.reason)])
                tokens += event.tokens
                open_choices -= 1
        if include_usage and not open_choices:
            yield shape.chunk([], _usage(work, tokens))
        yield "data: [DONE]\n\n"
    finally:
        work.cancel()


class _EventStream(StreamingResponse):
    """An SSE response that stops the generation as soon as the client goes away."""

    def __init__(self, content: AsyncIterator[str], work: GenerationRequest) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.work = work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.work.cancel()  # frees the batch slot at the engine's next step
