"""Errors in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}`.

Every refusal the server makes goes through `APIError`, so clients written for the OpenAI API
(and its official client, which maps status codes to exception classes) understand them.
"""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = "invalid_request_error"


class APIError(Exception):
    """A refusal with an HTTP status and an OpenAI-style error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The JSON body of an error response."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class QueueFull(APIError):
    """The model's queue is full: the client should retry shortly."""

    def __init__(self, model: str, limit: int) -> None:
        super().__init__(
            429,
            f"model {model!r} is busy: {limit} requests are already waiting; retry shortly",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": "1"},
        )


def model_not_found(name: str) -> APIError:
    return APIError(
        404,
        f"the model {name!r} does not exist on this server; GET /v1/models lists them",
        param="model",
        code="model_not_found",
    )
