"""Regional torch.compile: when it is used, and that it changes no result."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunesmith.config import load_config
from tunesmith.errors import ConfigError
from tunesmith.train import compile as regional
from tunesmith.train.loop import train
from tunesmith.train.loss import summed_token_loss

CPU = torch.device("cpu")


@pytest.fixture
def with_compiler(monkeypatch):
    monkeypatch.setattr(regional, "_cpp_compiler", lambda: "/usr/bin/c++")


@pytest.fixture
def without_compiler(monkeypatch):
    monkeypatch.setattr(regional, "_cpp_compiler", lambda: None)


def test_on_compiles(with_compiler) -> None:
    assert regional.plan_compile("on", CPU).enabled


def test_on_without_a_compiler_is_a_config_error_with_the_fix(without_compiler) -> None:
    with pytest.raises(ConfigError, match="C\\+\\+ compiler") as error:
        regional.plan_compile("on", CPU)
    assert "train.compile=off" in error.value.hint


def test_off_never_compiles(with_compiler) -> None:
    assert not regional.plan_compile("off", CPU).enabled


def test_compile_is_off_by_default() -> None:
    from tunesmith.config import TrainConfig

    assert TrainConfig().compile == "off"


def test_compiled_blocks_give_the_eager_loss_and_gradients(tiny_model_dir) -> None:
    def loss_and_grads(model):
        ids = torch.randint(5, 500, (2, 24), generator=torch.Generator().manual_seed(0))
        loss, tokens = summed_token_loss(model, {"input_ids": ids, "labels": ids})
        (loss / tokens).backward()
        return float(loss.detach()), [p.grad.clone() for p in model.parameters()]

    eager = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    compiled = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert regional.compile_blocks(compiled) == 2 * 3 + 1  # mlp and 2 norms per block, final norm
    eager_loss, eager_grads = loss_and_grads(eager)
    compiled_loss, compiled_grads = loss_and_grads(compiled)
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-5)
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert set(compiled.state_dict()) == set(eager.state_dict())  # names unchanged


def test_a_compiled_run_records_it_and_matches_the_eager_run(job, tmp_path) -> None:
    settings = {"max_steps": 3, "precision": "fp32"}
    compiled_config = load_config(job(train={**settings, "compile": "on"}))
    eager_config = load_config(job(train={**settings, "compile": "off"}))
    compiled = train(compiled_config, tmp_path / "compiled")
    eager = train(eager_config, tmp_path / "eager")
    assert compiled.record["compile"]["enabled"] is True
    assert eager.record["compile"]["enabled"] is False
    assert compiled.record["final_train_loss"] == pytest.approx(
        eager.record["final_train_loss"], rel=1e-4
    )
