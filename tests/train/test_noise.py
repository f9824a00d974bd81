"""NEFTune noise: bounded, only while training, only inside the context."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunesmith.train.noise import embedding_noise


@pytest.fixture
def model(tiny_model_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir)


def _embed(model, ids: torch.Tensor) -> torch.Tensor:
    return model.get_input_embeddings()(ids)


def test_noise_is_added_in_training_within_the_neftune_bound(model) -> None:
    ids = torch.arange(3, 23).reshape(1, 20)
    clean = _embed(model, ids).detach()
    model.train()
    with embedding_noise(model, alpha=5.0):
        noisy = _embed(model, ids).detach()
    bound = 5.0 / math.sqrt(20 * clean.shape[-1])
    difference = (noisy - clean).abs()
    assert difference.max() > 0
    assert difference.max() <= bound + 1e-7


def test_no_noise_in_eval_mode(model) -> None:
    ids = torch.arange(3, 13).reshape(1, 10)
    clean = _embed(model, ids)
    model.eval()
    with embedding_noise(model, alpha=5.0):
        assert torch.equal(_embed(model, ids), clean)


def test_hook_is_removed_on_exit_and_none_is_a_no_op(model) -> None:
    ids = torch.arange(3, 13).reshape(1, 10)
    clean = _embed(model, ids)
    model.train()
    with embedding_noise(model, alpha=5.0):
        pass
    with embedding_noise(model, alpha=None):
        assert torch.equal(_embed(model, ids), clean)
    assert torch.equal(_embed(model, ids), clean)
