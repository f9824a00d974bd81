"""Self-replay: the base model's own samples, seeded, cached, trained on every token."""

from __future__ import annotations

import pytest

from tunesmith.config import ReplayConfig, load_config
from tunesmith.data.types import IGNORE_INDEX
from tunesmith.models import load_model
from tunesmith.train import replay as replay_module
from tunesmith.train.loop import train
from tunesmith.train.replay import replay_count, replay_dir, replay_examples, start_token_id


@pytest.fixture
def loaded(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def _samples(loaded, count=5, seed=0, max_tokens=12, targets="tokens", top_k=64):
    return replay_examples(
        loaded.model,
        loaded.tokenizer,
        ReplayConfig(share=0.2, max_tokens=max_tokens, targets=targets, top_k=top_k),
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
            assert (replay["targets"], replay["top_k"]) == ("distribution", 64)
        else:
            assert replay is None
    assert steps == {0.0: 9, 0.2: 12}  # ceil(36 / 4), ceil(45 / 4)


def test_distribution_targets_are_the_base_models_top_k_at_every_label(loaded):
    import torch

    examples = _samples(loaded, targets="distribution", top_k=7)
    loaded.model.eval()
    for example in examples:
        soft = example.soft_targets
        assert soft.ids.shape == soft.probs.shape == (len(example.input_ids) - 1, 7)
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([example.input_ids])).logits[0, :-1]
        probs, ids = torch.softmax(logits.float(), -1).topk(7, dim=-1)
        assert torch.equal(soft.ids.long(), ids)
        assert torch.allclose(soft.probs, probs, atol=1e-5)


def test_token_targets_carry_no_distribution(loaded):
    assert all(example.soft_targets is None for example in _samples(loaded))


def test_distributions_are_cached_next_to_the_samples(loaded, monkeypatch):
    first = _samples(loaded, targets="distribution", top_k=5)
    assert len(list(replay_dir().glob("*-top5.safetensors"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("computed the distributions again instead of reading the cache")

    monkeypatch.setattr(replay_module, "base_distributions", refuse)
    again = _samples(loaded, targets="distribution", top_k=5)
    for one, other in zip(first, again, strict=True):
        assert one.soft_targets.ids.equal(other.soft_targets.ids)
        assert one.soft_targets.probs.equal(other.soft_targets.probs)


def test_a_damaged_distribution_cache_is_computed_again(loaded):
    _samples(loaded, targets="distribution", top_k=5)
    (cached,) = replay_dir().glob("*-top5.safetensors")
    cached.write_bytes(b"not a safetensors file")
    examples = _samples(loaded, targets="distribution", top_k=5)
    assert all(example.soft_targets.ids.shape[1] == 5 for example in examples)


def test_distributions_are_cut_with_samples_longer_than_a_row(job, tmp_path):
    config = load_config(
        job(
            data={"seq_len": 96},
            train={"max_steps": 2, "replay": {"share": 0.2, "max_tokens": 256}},
        )
    )
    result = train(config, tmp_path / "run")
    assert result.status == "succeeded"
    assert result.record["data"]["replay"]["tokens"] <= 9 * 96
