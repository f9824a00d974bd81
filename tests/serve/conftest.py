"""Fixtures for the server tests: tiny trained runs, a real server, and the OpenAI client.

The runs are trained once per session (a few steps at a high learning rate on different data,
so each adapter answers in its own words) and shared by every server test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

ALPHA = [("Where is the store?", "The store is on Main Street.")]
BETA = [("Where is the store?", "Ahoy! Ahoy! We sail at dawn.")]
QUESTION = [{"role": "user", "content": "Where is the store?"}]
API_KEY = "test-key-123"


def write_data(path: Path, pairs: list[tuple[str, str]], count: int = 16) -> Path:
    rows = []
    for index in range(count):
        question, answer = pairs[index % len(pairs)]
        messages = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        rows.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with embeddings large enough that memorised answers win by clear margins.

    At the shared tiny model's initializer range (0.02) the runs below answered right on a CPU
    but "The store is rud. is rud." after the same steps on an H200; at 0.2 every seed tried
    answered its trained sentence.
    """
    from tests.conftest import build_tiny_model

    folder = tmp_path_factory.mktemp("serve-tiny-model")
    return build_tiny_model(folder, tokenizer_dir, initializer_range=0.2)


def train_run(
    folder: Path, model_dir: Path, pairs, method: dict, seed: int, steps: int = 20
) -> Path:
    """A finished tiny run in `folder / "run"`."""
    from tunesmith.config import load_config
    from tunesmith.train.loop import train

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model": {"name": str(model_dir)},
        "data": {
            "train": str(write_data(folder / "train.jsonl", pairs)),
            "validation_share": 0.0,
            "seq_len": 64,
            # The tests need each adapter to memorise its exact answers in a few steps, and
            # compare served answers with chat_replies on the bare question: no notes.
            "augment": False,
            "notes": {"enabled": False},
        },
        "method": method,
        "train": {
            "max_steps": steps,
            "batch_size": 4,
            "lr": 2e-2,
            "warmup_ratio": 0.0,
            "precision": "fp32",
            "seed": seed,
            "save_every": 100,
            "eval_every": 100,
        },
        "output": {"dir": str(folder / "runs")},
    }
    job = folder / "job.yaml"
    job.write_text(yaml.safe_dump(config), encoding="utf-8")
    run_dir = folder / "run"
    train(load_config(job), run_dir)
    return run_dir


@pytest.fixture(scope="session")
def trained_runs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two LoRA runs with different answers and one freeze run, all on the tiny model."""
    root = tmp_path_factory.mktemp("serve-runs")
    lora = {"name": "lora", "lora": {"r": 8, "alpha": 16}}
    freeze = {"name": "freeze", "freeze": {"trainable_layers": 1}}
    with pytest.MonkeyPatch.context() as patch:  # keep the run registry out of the real home
        patch.setenv("TUNESMITH_HOME", str(root / "home"))
        return {
            "alpha": train_run(root / "alpha", tiny_model_dir, ALPHA, lora, seed=1),
            "beta": train_run(root / "beta", tiny_model_dir, BETA, lora, seed=2),
            "frozen": train_run(root / "frozen", tiny_model_dir, ALPHA, freeze, seed=3, steps=8),
        }


@pytest.fixture(scope="session")
def registry(tiny_model_dir: Path, trained_runs: dict):
    """The tiny base model with the two LoRA runs as adapters and the freeze run apart."""
    from tunesmith.serve import ModelRegistry

    models = ModelRegistry(str(tiny_model_dir), name="tiny", max_batch=8, max_queue=16)
    for name, run_dir in trained_runs.items():
        models.add_run(name, run_dir)
    yield models
    models.close()


@pytest.fixture(scope="session")
def server(registry):
    """The real server (uvicorn, loopback, free port) with no API key."""
    from tunesmith.serve import BackgroundServer, ServerSettings, create_app

    with BackgroundServer(create_app(registry, ServerSettings())) as running:
        yield running


@pytest.fixture(scope="session")
def keyed_server(registry):
    """The same models behind an API key (admin routes enabled)."""
    from tunesmith.serve import BackgroundServer, ServerSettings, create_app

    settings = ServerSettings(api_key=API_KEY)
    with BackgroundServer(create_app(registry, settings)) as running:
        yield running


@pytest.fixture
def client(server):
    """The official OpenAI client pointed at the server (no retries: tests want each answer)."""
    import openai

    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture
def http(server):
    import httpx

    with httpx.Client(base_url=server.url, timeout=30) as session:
        yield session


@pytest.fixture(scope="session")
def reference(trained_runs: dict, tiny_model_dir: Path):
    """Greedy replies from a run (or the base) loaded alone, as `tunesmith eval` makes them."""
    from tunesmith.eval.generation import chat_replies
    from tunesmith.models import load_model
    from tunesmith.train.artifacts import load_run

    loaded: dict = {}

    def replies(name: str, conversations: list, max_tokens: int) -> list:
        if name not in loaded:
            loaded[name] = (
                load_model(str(tiny_model_dir)) if name == "tiny" else load_run(trained_runs[name])
            )
        model = loaded[name]
        return chat_replies(model.model, model.tokenizer, conversations, max_new_tokens=max_tokens)

    return replies


def assert_openai_error(response, status: int, *, code: str | None = None, param=None) -> dict:
    """The response is an error in the OpenAI shape, without internals."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    return error
