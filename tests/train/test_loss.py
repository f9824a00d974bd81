"""The training loss: soft targets (self-replay) score a KL divergence at their positions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunesmith.data.types import IGNORE_INDEX, SoftTargets, TokenizedExample
from tunesmith.models import load_model
from tunesmith.train.loop import _collate
from tunesmith.train.loss import kl_from_top_k, soft_target_batch, summed_token_loss


def test_kl_from_top_k_is_the_full_kl_when_the_k_cover_the_vocabulary():
    torch.manual_seed(0)
    logits, target_logits = torch.randn(6, 40), torch.randn(6, 40)
    probs, ids = torch.softmax(target_logits, -1).topk(40, dim=-1)
    expected = F.kl_div(
        torch.log_softmax(logits, -1), torch.log_softmax(target_logits, -1), log_target=True,
        reduction="sum",
    )  # fmt: skip
    assert torch.allclose(kl_from_top_k(logits, ids, probs), expected, atol=1e-5)


def test_kl_from_top_k_is_zero_at_the_target_and_grows_away_from_it():
    torch.manual_seed(0)
    target_logits = torch.randn(5, 50)
    probs, ids = torch.softmax(target_logits, -1).topk(8, dim=-1)
    at_target = target_logits.clone().requires_grad_(True)
    loss = kl_from_top_k(at_target, ids, probs)
    loss.backward()
    assert abs(float(loss.detach())) < 1e-5
    assert float(at_target.grad.abs().max()) < 1e-5
    assert float(kl_from_top_k(target_logits + torch.randn(5, 50), ids, probs)) > 0.1


def test_kl_from_top_k_does_not_reward_putting_all_mass_on_the_k():
    """The rest of the target's probability is an outcome: squeezing it out costs."""
    target_logits = torch.zeros(1, 10)  # uniform: the top 2 hold 20%
    probs, ids = torch.softmax(target_logits, -1).topk(2, dim=-1)
    squeezed = torch.full((1, 10), -30.0)
    squeezed[0, ids[0]] = 0.0
    assert float(kl_from_top_k(squeezed, ids, probs)) > 1.0


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir))
    loaded.model.eval()
    return loaded.model


def _with_own_targets(model, ids: list[int], top_k: int = 16) -> TokenizedExample:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    probs, top = torch.softmax(logits.float(), -1).topk(top_k, dim=-1)
    example = TokenizedExample(list(ids), [IGNORE_INDEX, *ids[1:]])
    example.soft_targets = SoftTargets(top.int(), probs)
    return example


@pytest.mark.parametrize("pack_len", [None, 64])
def test_soft_targets_of_the_models_own_distribution_add_no_loss(tiny, pack_len):
    user = TokenizedExample([5, 6, 7, 8, 9], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 8, 9])
    replay = _with_own_targets(tiny, [1, 20, 30, 40, 50, 60])
    with torch.no_grad():
        alone, alone_count = summed_token_loss(tiny, _collate([user], 0, pack_len)[0])
        mixed, count = summed_token_loss(tiny, _collate([user, replay], 0, pack_len)[0])
        hard = dict(_collate([user, replay], 0, pack_len)[0])
        for key in ("soft_index", "soft_ids", "soft_probs"):
            del hard[key]
        with_labels, _ = summed_token_loss(tiny, hard)
    assert count == alone_count + 5  # the replay positions count as trained tokens
    assert float(mixed) == pytest.approx(float(alone), abs=1e-4)
    assert float(with_labels) > float(alone) + 5  # their sampled labels would cost ~ln(V) each


def test_soft_target_batch_indexes_the_predicting_positions_of_each_row():
    soft = SoftTargets(torch.zeros(3, 2, dtype=torch.int32), torch.full((3, 2), 0.5))
    plain = TokenizedExample([1, 2], [IGNORE_INDEX, 2])
    replay = TokenizedExample([1, 2, 3, 4], [IGNORE_INDEX, 2, 3, 4], soft_targets=soft)
    batch = soft_target_batch([plain, replay], [[0, 1]], width=8)
    assert batch["soft_index"].tolist() == [2, 3, 4]  # after the 2 tokens of `plain`
    batch = soft_target_batch([plain, replay], [[0], [1]], width=5)
    assert batch["soft_index"].tolist() == [4, 5, 6]  # row 1 of a [2, 4] grid
    assert soft_target_batch([plain], [[0]], width=2) == {}
