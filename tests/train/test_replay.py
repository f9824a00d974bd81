"""Self-replay: the base model's own samples, seeded, cached, trained on every token."""

from __future__ import annotations

import pytest

from tunesmith.config import ReplayConfig, load_config
from tunesmith.data.types import IGNORE_INDEX
from tunesmith.models import load_model
from tunesmith.train.loop import train
from tunesmith.train.replay import replay_count, replay_dir, replay_examples, start_token_id


@pytest.fixture
def loaded(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def _samples(loaded, count=5, seed=0, max_tokens=12):
    return replay_examples(
        loaded.model,
        loaded.tokenizer,
        ReplayConfig(share=0.2, max_tokens=max_tokens),
        count=count,
        seed=seed,
        model_sha256="tiny",
    )


@pytest.mark.parametrize(("share", "users", "count"), [(0.0, 80, 0), (0.2, 80, 20), (0.5, 10, 10)])
def test_replay_count_makes_the_share_of_the_mixed_examples(share, users, count):
    assert replay_count(ReplayConfig(share=share), users) == count


def test_samples_start_at_the_document_separator_and_train_every_later_token(loaded):
    start = start_token_id(loaded.tokenizer)
    assert start == loaded.tokenizer.get_vocab()["<|endoftext|>"]
    examples = _samples(loaded)
    assert len(examples) == 5
    for example in examples:
        assert example.input_ids[0] == start
        assert 2 <= len(example.input_ids) <= 13
        assert example.labels == [IGNORE_INDEX, *example.input_ids[1:]]


def test_samples_are_seeded(loaded):
    first = [e.input_ids for e in _samples(loaded, seed=1)]
    for cached in replay_dir().glob("*.json"):
        cached.unlink()  # generate again, not read the cache
    assert [e.input_ids for e in _samples(loaded, seed=1)] == first
    assert [e.input_ids for e in _samples(loaded, seed=2)] != first


def test_samples_are_cached_so_the_model_generates_once(loaded, monkeypatch):
    first = [e.input_ids for e in _samples(loaded)]
    assert len(list(replay_dir().glob("*.json"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("generated again instead of reading the cache")

    monkeypatch.setattr(loaded.model, "generate", refuse)
    assert [e.input_ids for e in _samples(loaded)] == first


def test_sampling_leaves_the_global_random_state_alone(loaded):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _samples(loaded)
    assert torch.equal(torch.rand(3), expected)


def test_replay_adds_samples_and_steps_and_is_recorded(job, tmp_path):
    steps = {}
    for share in (0.0, 0.2):
        config = load_config(
            job(train={"max_steps": None, "epochs": 1.0, "replay": {"share": share}})
        )
        result = train(config, tmp_path / f"run-{share}")
        steps[share] = result.record["steps"]
        replay = result.record["data"]["replay"]
        if share:
            assert replay["samples"] == 9  # 36 user examples: 9 more make 20% of 45
            assert replay["tokens"] > 9
            assert result.record["data"]["train_items"] == 45
        else:
            assert replay is None
    assert steps == {0.0: 9, 0.2: 12}  # ceil(36 / 4), ceil(45 / 4)
