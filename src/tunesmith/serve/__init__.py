"""Serving: an OpenAI-compatible HTTP server over a base model and its tuned runs.

    registry  which models the server answers for (base, LoRA adapters, freeze/full runs)
    engine    batched generation per model in memory (a scheduler thread, continuous batching)
    app       FastAPI application: auth, limits, errors in the OpenAI shape
    routes    /v1/models, /v1/chat/completions, /v1/completions, /health, /admin/runs
    server    uvicorn in the foreground, or in a background thread for tests and benchmarks

serve imports models, train.artifacts and eval.generation; nothing lower imports serve.
"""

from tunesmith.serve.app import ServerSettings, create_app
from tunesmith.serve.registry import ModelRegistry, ServedModel
from tunesmith.serve.server import BackgroundServer, check_bind, is_loopback, serve_forever

__all__ = [
    "BackgroundServer",
    "ModelRegistry",
    "ServedModel",
    "ServerSettings",
    "check_bind",
    "create_app",
    "is_loopback",
    "serve_forever",
]
