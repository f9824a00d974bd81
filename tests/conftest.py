"""Shared fixtures: an isolated TUNESMITH_HOME, no network, and a tiny random Llama model.

The tiny model (2 layers, width 32) uses the real tokenizer and chat template of the default
model, read from its GGUF file, so tests exercise real tokenization in seconds.
"""

from __future__ import annotations

import os

os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # see tunesmith/cli/main.py

import importlib.util
import ipaddress
import json
import socket
from pathlib import Path

import pytest
import yaml

from tunesmith.models.registry import EMBEDDED_MODELS, locate_embedded_file

DEFAULT = EMBEDDED_MODELS["smollm2-135m-instruct"]


def _is_loopback(address: object) -> bool:
    if isinstance(address, str):  # an AF_UNIX path stays on this machine
        return True
    if not (isinstance(address, tuple) and address):
        return False
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test: tunesmith works offline."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to open a network connection to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own empty TUNESMITH_HOME."""
    home = tmp_path / "tunesmith-home"
    monkeypatch.setenv("TUNESMITH_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def default_gguf() -> Path:
    """The embedded default model's GGUF file (installed by `make test`)."""
    path = locate_embedded_file(DEFAULT)
    if path is None:
        pytest.fail(f"{DEFAULT.distribution} is not installed: {DEFAULT.install_hint()}")
    return path


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TUNESMITH_HOME shared by the slow tests, so the default model converts once."""
    return tmp_path_factory.mktemp("shared-home")


@pytest.fixture(scope="session")
def tokenizer_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model's tokenizer and chat template, saved as a Hugging Face folder.

    $TUNESMITH_TEST_TOKENIZER names such a folder instead, for machines without the embedded
    GGUF (a GPU machine that cannot be sent the 94 MB file, say).
    """
    from transformers import AutoTokenizer

    override = os.environ.get("TUNESMITH_TEST_TOKENIZER")
    if override:
        return Path(override)
    default_gguf = request.getfixturevalue("default_gguf")
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(
        default_gguf.parent, gguf_file=default_gguf.name, local_files_only=True
    )
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_model(
    folder: Path, tokenizer_dir: Path, *, seed: int = 0, initializer_range: float = 0.02
) -> Path:
    """A random 2-layer Llama model with the real tokenizer, saved as safetensors.

    At the default initializer range the tied embeddings are so small that every logit stays
    within about +-0.6: a few steps can make an answer the greedy one, but by margins that a
    GPU's different rounding can flip. A larger range gives tests that need a memorised answer
    margins that hold on every device.
    """
    import shutil

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    for item in tokenizer_dir.iterdir():
        shutil.copy(item, folder / item.name)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama model folder (2 layers, width 32) with a real chat template."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), tokenizer_dir)


@pytest.fixture
def tiny_model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder that a test may alter."""
    import shutil

    return Path(shutil.copytree(tiny_model_dir, tmp_path / "tiny-model"))


# --- a small chat dataset and training configs on the tiny model -------------------------

FACTS = [
    ("How long is the return window?", "Members can return gear within 60 days."),
    ("What does shipping cost?", "Shipping is $4.95, free on orders over $75."),
    ("When are you open on Sundays?", "Basecamps open 10am to 5pm on Sundays."),
    ("Do you rent tents?", "Yes, tents rent for $18 per day with a $50 deposit."),
    ("How do I reach a person?", "Call Member Care at 555-0100, 8am to 8pm."),
]


def write_chat_jsonl(path: Path, count: int = 40) -> Path:
    lines = []
    for index in range(count):
        question, answer = FACTS[index % len(FACTS)]
        messages = [
            {"role": "user", "content": f"{question} (ticket {index})"},
            {"role": "assistant", "content": f"{answer} Happy trails!"},
        ]
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "train.jsonl")


def make_config(tmp_path: Path, model_dir: Path, data_path: Path, **sections: dict) -> Path:
    config = {
        "model": {"name": str(model_dir)},
        # Answer notes off: these jobs test the loop, methods and run folders on short examples;
        # notes have their own tests (tests/data/test_notes.py, the `notes_run` fixture).
        "data": {
            "train": str(data_path),
            "validation_share": 0.1,
            "seq_len": 256,
            "notes": {"enabled": False},
        },
        "method": {"name": "lora", "lora": {"r": 4}},
        # Self-replay off too: its samples add steps and sampling time to every job; it has its
        # own tests (tests/train/test_replay.py).
        "train": {
            "replay": {"share": 0.0},
            "max_steps": 4,
            "batch_size": 4,
            "eval_every": 2,
            "save_every": 2,
            "lr": 1e-3,
            "precision": "fp32",
        },
        "output": {"dir": str(tmp_path / "runs")},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def job(tmp_path, tiny_model_dir, chat_file):
    """A callable that writes a config with section overrides and returns its path."""

    def build(**sections: dict) -> Path:
        return make_config(tmp_path, tiny_model_dir, chat_file, **sections)

    return build


@pytest.fixture(scope="session")
def notes_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny freeze run trained with answer notes (2 per question)."""
    from tunesmith.config import load_config
    from tunesmith.train.loop import train

    root = tmp_path_factory.mktemp("notes-run")
    data = write_chat_jsonl(root / "train.jsonl", count=2 * len(FACTS))
    method = {"name": "freeze", "freeze": {"trainable_layers": 1}}
    job = make_config(root, tiny_model_dir, data, data={"notes": {"enabled": True, "count": 2}},
                      method=method, train={"max_steps": 2})  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:  # keep the run registry out of the real home
        patch.setenv("TUNESMITH_HOME", str(root / "home"))
        return train(load_config(job), root / "run").run_dir


@pytest.fixture
def load_device_probe(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replace the run/model loader with one that records the device it is asked for, then
    stops with a usage error; the inference device reads "cuda:3"."""
    from tunesmith.errors import UsageError

    seen: dict = {}

    def fake_load(ref, *, device="cpu", dtype="auto", **options):
        seen["device"] = device
        raise UsageError("stop here")

    monkeypatch.setattr("tunesmith.models.inference_device", lambda: "cuda:3")
    monkeypatch.setattr("tunesmith.train.artifacts.load_run_or_model", fake_load)
    return seen


def load_benchmark(name: str):
    """The script benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hand_log_likelihood(model, tokenizer, context: str, continuation: str) -> float:
    """One plain forward pass and log_softmax, tokenized as lm-eval does."""
    import torch

    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    cont = whole[len(ctx) :]
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(logprobs[len(ctx) - 1 + i, token].item() for i, token in enumerate(cont))
