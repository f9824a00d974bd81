"""Keeping the frozen blocks' output after the first epoch: same training, less work."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tunesmith.config import load_config
from tunesmith.data.pack import collate_packed, pack_even
from tunesmith.train.attention import packed_attention
from tunesmith.train.loop import train
from tunesmith.train.loss import language_model_parts, summed_token_loss
from tunesmith.train.prefix import PrefixCache, build_prefix_cache, verify_prefix_cache

FREEZE_ONE = {"name": "freeze", "freeze": {"trainable_layers": 1}}
# Three epochs of 9 steps (36 training examples, 4 per step) with validation every 9 steps.
EPOCHS = {"max_steps": None, "epochs": 3, "eval_every": 9, "save_every": 100}


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


@pytest.mark.parametrize(
    "data",
    [{"seq_len": 96}, {"pack": False}],
    ids=["packed-rows-of-several-examples", "padded-one-example-per-row"],
)
def test_cached_freeze_run_equals_the_uncached_run(job, tmp_path, data):
    cached = train(load_config(job(method=FREEZE_ONE, train=EPOCHS, data=data)), tmp_path / "on")
    plain = train(
        load_config(job(method=FREEZE_ONE, train={**EPOCHS, "prefix_cache_mb": 0}, data=data)),
        tmp_path / "off",
    )
    on, off = metrics(cached.run_dir), metrics(plain.run_dir)
    assert len(on) == len(off) == 27
    # Epochs 2 and 3 start at the trained block from kept states; any misplaced example or
    # position would move these losses far more than the rounding allowed here.
    assert [r["loss"] for r in on] == pytest.approx([r["loss"] for r in off], rel=1e-5)
    val_on = [r["val_loss"] for r in on if "val_loss" in r]
    assert val_on == pytest.approx([r["val_loss"] for r in off if "val_loss" in r], rel=1e-5)
    weights_on = load_file(cached.run_dir / "final" / "trained.safetensors")
    weights_off = load_file(plain.run_dir / "final" / "trained.safetensors")
    for name, tensor in weights_on.items():
        torch.testing.assert_close(tensor, weights_off[name], rtol=1e-4, atol=1e-6)
    summary = record(cached.run_dir)["prefix_cache"]
    assert summary["enabled"] and summary["first_block"] == 1
    assert summary["examples"] == 40  # 36 training and 4 validation examples
    assert summary["served"] == 2 * 36 + 2 * 4  # epochs 2-3, validations 2-3
    assert record(plain.run_dir)["prefix_cache"]["off_reason"] == "train.prefix_cache_mb is 0"


def test_two_processes_with_the_cache_match_one_process(job, tmp_path):
    from tests.train.test_loop import spawn_train

    job_path = job(method=FREEZE_ONE, train={**EPOCHS, "epochs": 2})
    cpu_only = {"CUDA_VISIBLE_DEVICES": ""}  # gloo: two ranks would need two GPUs
    assert spawn_train([str(job_path), "--output", str(tmp_path / "one")], **cpu_only).wait() == 0
    process = spawn_train(
        [str(job_path), "--output", str(tmp_path / "two"), "--nproc", "2"], **cpu_only
    )
    _, err = process.communicate()
    assert process.returncode == 0, err.decode()[-3000:]
    one, two = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    # Each rank keeps the states of the examples it runs; the second epoch starts from them.
    assert record(tmp_path / "two")["prefix_cache"]["served"] > 0
    assert [r["loss"] for r in one] == pytest.approx([r["loss"] for r in two], rel=1e-4)


@pytest.mark.parametrize(
    ("method", "reason"),
    [({"name": "lora", "lora": {"r": 4}}, "every block trains"), ({"name": "full"}, "every")],
)
def test_methods_that_train_every_block_record_why_nothing_is_kept(job, tmp_path, method, reason):
    result = train(load_config(job(method=method)), tmp_path / "run")
    summary = record(result.run_dir)["prefix_cache"]
    assert not summary["enabled"] and summary["off_reason"].startswith(reason)
    assert summary["served"] == 0


def test_embedding_noise_turns_the_cache_off(job, tmp_path):
    result = train(
        load_config(job(method=FREEZE_ONE, train={"neftune_alpha": 5.0})), tmp_path / "run"
    )
    assert "neftune" in record(result.run_dir)["prefix_cache"]["off_reason"]


def test_frozen_blocks_with_dropout_train_without_the_cache(job, tiny_model_copy, tmp_path):
    config_path = tiny_model_copy / "config.json"
    model_config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**model_config, "attention_dropout": 0.5}))
    job_config = load_config(job(method=FREEZE_ONE, train=EPOCHS))
    job_config.model.name = str(tiny_model_copy)
    result = train(job_config, tmp_path / "run")
    summary = record(result.run_dir)["prefix_cache"]
    assert not summary["enabled"] and "dropout" in summary["off_reason"]
    assert summary["served"] == 0 and result.status == "succeeded"


# --- the cache itself, on the tiny model's decoder --------------------------------------------


@pytest.fixture
def tiny_freeze(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).float()
    model.requires_grad_(False)
    return model


class Example:
    def __init__(self, ids: list[int]) -> None:
        self.input_ids = ids
        self.labels = list(ids)


def examples(lengths: list[int]) -> list[Example]:
    generator = torch.Generator().manual_seed(1)
    return [Example(torch.randint(5, 500, (n,), generator=generator).tolist()) for n in lengths]


def packed(items: list[Example], capacity: int) -> tuple[dict, list[list[int]]]:
    rows = pack_even(items, capacity)
    return collate_packed(rows), [row.members for row in rows]


def test_kept_states_give_the_same_loss_in_a_different_packing(tiny_freeze):
    decoder = language_model_parts(tiny_freeze)[0]
    cache = build_prefix_cache(decoder, 1, budget_bytes=2**30, noise=False)
    items = examples([30, 12, 25, 7, 18])
    first_batch, first_layout = packed(items, 40)  # three rows
    second_batch, second_layout = packed(list(reversed(items)), 100)  # one row, other order
    assert len(first_layout) == 3 and len(second_layout) == 1
    with packed_attention(tiny_freeze), torch.no_grad():
        with cache.forward(items, first_layout, first_batch) as batch:
            assert "input_ids" in batch  # first sight: the whole model runs
            summed_token_loss(tiny_freeze, batch)
        whole, _ = summed_token_loss(tiny_freeze, second_batch)
        with cache.forward(list(reversed(items)), second_layout, second_batch) as batch:
            assert "inputs_embeds" in batch and "input_ids" not in batch
            upper, _ = summed_token_loss(tiny_freeze, batch)
    torch.testing.assert_close(upper, whole, rtol=1e-5, atol=1e-6)
    assert cache.served == 5 and len(cache.decoder.layers) == 2  # the blocks are put back


def test_examples_past_the_budget_are_not_kept_and_run_the_whole_model(tiny_freeze):
    decoder = language_model_parts(tiny_freeze)[0]
    width = tiny_freeze.config.hidden_size
    cache = build_prefix_cache(decoder, 1, budget_bytes=20 * width * 4, noise=False)
    items = examples([20, 10])
    batch, layout = packed(items, 64)
    with packed_attention(tiny_freeze), torch.no_grad():
        with cache.forward(items, layout, batch) as ready:
            summed_token_loss(tiny_freeze, ready)
        with cache.forward(items, layout, batch) as ready:
            assert "input_ids" in ready  # one of the two is missing: no shortcut
    assert cache.summary()["examples"] == 1 and cache.bytes_used == 20 * width * 4


def test_a_decoder_that_changes_its_input_fails_the_check(tiny_freeze):
    decoder = language_model_parts(tiny_freeze)[0]
    cache = build_prefix_cache(decoder, 1, budget_bytes=2**30, noise=False)
    (item,) = examples([16])
    batch, _ = packed([item], 64)
    # A Gemma-like decoder scales whatever arrives as input embeddings: the kept states would
    # be scaled again, so the check must refuse them.
    decoder.register_forward_pre_hook(
        lambda module, args, kwargs: (
            (args, {**kwargs, "inputs_embeds": kwargs["inputs_embeds"] * 3})
            if kwargs.get("inputs_embeds") is not None
            else None
        ),
        with_kwargs=True,
    )
    with packed_attention(tiny_freeze):
        verify_prefix_cache(cache, lambda b: summed_token_loss(tiny_freeze, b)[0], item, batch)
    assert not cache.enabled and "changed the loss" in cache.off_reason


def test_a_decoder_that_refuses_to_start_at_a_block_trains_without_the_cache(tiny_freeze):
    decoder = language_model_parts(tiny_freeze)[0]
    cache = build_prefix_cache(decoder, 1, budget_bytes=2**30, noise=False)
    (item,) = examples([16])
    batch, _ = packed([item], 64)

    def needs_token_ids(module, args, kwargs):
        if kwargs.get("input_ids") is None:
            raise ValueError("this decoder needs input_ids")

    decoder.register_forward_pre_hook(needs_token_ids, with_kwargs=True)
    rng = torch.get_rng_state()
    with packed_attention(tiny_freeze):
        verify_prefix_cache(cache, lambda b: summed_token_loss(tiny_freeze, b)[0], item, batch)
    assert not cache.enabled and "needs input_ids" in cache.off_reason
    assert len(decoder.layers) == 2
    assert torch.equal(torch.get_rng_state(), rng)  # the check draws nothing training would


def test_blocks_with_mixed_attention_types_are_not_cached(tiny_freeze):
    decoder = language_model_parts(tiny_freeze)[0]
    decoder.config.layer_types = ["sliding_attention", "full_attention"]
    cache = build_prefix_cache(decoder, 1, budget_bytes=2**30, noise=False)
    assert not cache.enabled and "attention types" in cache.off_reason


def test_a_cache_that_is_off_passes_the_batch_through(tiny_freeze):
    cache = PrefixCache()
    batch = {"input_ids": torch.ones(1, 4, dtype=torch.long)}
    with cache.forward([Example([1, 2, 3, 4])], [[0]], batch) as ready:
        assert ready is batch
    assert cache.summary()["off_reason"] == "not set up"
