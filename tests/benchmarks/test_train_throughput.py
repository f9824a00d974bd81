"""The throughput harness runs end to end on the tiny model in a reduced mode (no timings)."""

from __future__ import annotations

import json

from tests.conftest import load_benchmark, write_chat_jsonl


def _harness():
    return load_benchmark("train_throughput")


def test_harness_measures_every_variant_and_writes_results(tiny_model_dir, tmp_path) -> None:
    data = write_chat_jsonl(tmp_path / "chat.jsonl", count=40)
    out = tmp_path / "results"
    harness = _harness()
    code = harness.main(["--model", str(tiny_model_dir), "--data", str(data), "--steps", "2",
                         "--batch", "4", "--mfu-steps", "1", "--seed", "3",
                         "--out", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads(next(out.glob("*.json")).read_text())
    assert report["seed"] == 3
    variants = {row["variant"] for row in report["results"]}
    assert variants == set(harness.VARIANTS)
    for row in report["results"]:
        assert row["steps"] == 2
        assert row["tokens"] > 0 and row["seconds"] > 0 and row["peak_rss_mb"] > 0
        assert row["val_loss"] > 0
    trainer, ours = (next(r for r in report["results"] if r["variant"] == v)
                     for v in ("trainer-lora", "tunesmith-lora"))  # fmt: skip
    # Same examples per step and the same steps: the real tokens trained agree within the
    # difference of data order (the Trainer shuffles with its own generator).
    assert 0.5 < trainer["tokens"] / ours["tokens"] < 2.0
    assert trainer["padded_tokens"] >= trainer["tokens"]
    assert {"chat.lora_speedup", "chat.full_speedup", "chat.lora_memory"} <= set(report["ratios"])
    assert report["mfu_microbenchmark"]["mfu"] > 0
    assert "| tunesmith-lora |" in next(out.glob("*.md")).read_text()


def test_flops_formula_counts_trained_weights_six_times(tiny_model_dir) -> None:
    harness = _harness()
    spec = {"model": str(tiny_model_dir)}
    counts = harness._matmul_weight_counts(str(tiny_model_dir))
    full = harness._flops_per_token(spec, "full")
    lora = harness._flops_per_token(spec, "lora")
    assert full == 6 * (counts["blocks"] + counts["head"])
    assert lora == 4 * (counts["blocks"] + counts["head"]) + 6 * counts["lora"]


def test_device_cuda_without_a_gpu_fails_with_the_fix(monkeypatch, tmp_path) -> None:
    import pytest
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--device cpu"):
        _harness().main(["--device", "cuda", "--out", str(tmp_path)])
