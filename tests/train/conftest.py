"""Fixtures for training tests: a small chat dataset and a config on the tiny model."""

import json
from pathlib import Path

import pytest
import yaml

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
        "data": {"train": str(data_path), "validation_share": 0.1, "seq_len": 256},
        "method": {"name": "lora", "lora": {"r": 4}},
        "train": {
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
