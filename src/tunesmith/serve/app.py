"""The FastAPI application: safety checks first, then routes, and errors in the OpenAI shape.

Order of checks for every request (a pure ASGI layer, so it runs before any body is parsed):
the API key (every route except /health), admin routes refused outright without a configured
key, then the body size limit. No response ever carries a stack trace: unexpected exceptions
are logged and answered with a generic 500.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunesmith.serve.errors import INVALID_REQUEST, APIError, error_body
from tunesmith.serve.registry import ModelRegistry

log = logging.getLogger("tunesmith.serve")

MIB = 1 << 20


@dataclass
class ServerSettings:
    """How the server guards itself and what it assumes when a request does not say."""

    api_key: str | None = None
    max_body_bytes: int = MIB
    default_chat_max_tokens: int = 512  # chat without max_tokens: bounded, not the whole context
    default_completion_max_tokens: int = 16  # OpenAI's documented default for completions


def create_app(registry: ModelRegistry, settings: ServerSettings | None = None) -> FastAPI:
    """The OpenAI-compatible application over `registry`."""
    from tunesmith.serve.routes import router

    settings = settings or ServerSettings()
    app = FastAPI(title="tunesmith", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.registry = registry
    app.state.settings = settings
    app.include_router(router)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(Guard, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes)
    return app


class Guard:
    """API key and body size checks in front of every route."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await _json_error(refusal)(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _refusal(self, scope: Scope) -> APIError | None:
        path = scope.get("path", "")
        if path == "/health":
            return None
        if self.api_key is not None and not self._authorised(scope):
            return APIError(
                401,
                "missing or wrong API key: send it as the header 'Authorization: Bearer KEY'",
                code="invalid_api_key",
            )
        if path.startswith("/admin") and self.api_key is None:
            return APIError(
                403,
                "admin endpoints are disabled: start the server with an API key "
                "(--api-key or TUNESMITH_API_KEY) to use them",
                type="permission_error",
                code="admin_disabled",
            )
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            return _too_large(self.max_body_bytes)
        return None

    def _authorised(self, scope: Scope) -> bool:
        value = _header(scope, b"authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key or b"")

    def _limited(self, receive: Receive) -> Receive:
        """Count body bytes as they arrive: a chunked body has no Content-Length to check."""
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise HTTPException(413, _too_large(self.max_body_bytes).message)
            return message

        return limited_receive


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _too_large(limit: int) -> APIError:
    return APIError(413, f"the request body is larger than {limit} bytes", code="request_too_large")


def _json_error(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return _json_error(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Malformed JSON and wrong or missing fields: 400 naming the first offending field."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first: dict[str, Any] = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        message = f"the request body is not valid JSON ({detail})".replace(" ()", "")
        return _json_error(APIError(400, message, code="invalid_json"))
    param = _param(first)
    related = [e for e in errors if _within(_param(e), param)]
    message = _describe(first, param, len(related) > 1)
    others = len(errors) - len(related)
    if others:
        message += f" (and {others} more problem{'s' if others > 1 else ''})"
    return _json_error(APIError(400, message, param=param, code="invalid_value"))


def _param(error: dict[str, Any]) -> str | None:
    """The dotted field path, without pydantic's union-branch tags (`str`, `list[TextPart]`)."""
    parts = [str(p) for p in error.get("loc", ()) if p != "body" and not _is_branch_tag(p)]
    return ".".join(parts) or None


def _within(param: str | None, parent: str | None) -> bool:
    if param is None or parent is None:
        return param == parent
    return param == parent or param.startswith(parent + ".")


def _is_branch_tag(part: Any) -> bool:
    if not isinstance(part, str):
        return False
    return "[" in part or part[:1].isupper() or part in {"str", "int", "float", "bool", "none"}


def _describe(error: dict[str, Any], param: str | None, union: bool) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"unrecognized request argument: {param}"
    if kind == "missing" and param is None:
        return "the request body is empty: send a JSON object"
    if kind == "missing":
        return f"missing required parameter: {param}"
    if kind == "model_attributes_type" and param is None:
        return "the request body must be a JSON object"
    if union:
        return f"{param}: has a type or form that is not allowed here"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{param}: {message}" if param else message


_TYPES = {401: INVALID_REQUEST, 403: "permission_error", 429: "rate_limit_error"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown routes, wrong methods and the body limit, in the OpenAI shape."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    codes = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if status == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    error_type = _TYPES.get(status, INVALID_REQUEST if status < 500 else "server_error")
    body = error_body(message, error_type, None, codes.get(status))
    return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body("internal server error; the server log has the details", "server_error")
    return JSONResponse(body, status_code=500)
