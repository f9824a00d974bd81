"""Per-example attention over packed rows gives the same loss and gradients as the mask."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from tunesmith.data.pack import collate_packed, collate_padded, pack_examples
from tunesmith.data.types import TokenizedExample
from tunesmith.train.attention import packed_attention, segment_bounds
from tunesmith.train.loss import summed_token_loss


def _examples() -> list[TokenizedExample]:
    generator = torch.Generator().manual_seed(0)
    out = []
    for length in (7, 12, 5, 9):
        ids = torch.randint(5, 200, (length,), generator=generator).tolist()
        out.append(TokenizedExample(ids, [-100] * 2 + ids[2:]))
    return out


def _loss_and_grads(model, batch) -> tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss, tokens = summed_token_loss(model, batch)
    (loss / tokens).backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return float(loss.detach()), grads


def test_segment_bounds_split_rows_where_positions_restart() -> None:
    positions = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]])
    assert segment_bounds(positions) == [[(0, 3), (3, 5), (5, 6)], [(0, 4), (4, 6)]]


def test_packed_attention_matches_masked_attention_loss_and_gradients(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    batch = collate_packed(pack_examples(_examples(), 20), pad_token_id=0, pad_to=24)
    assert batch["input_ids"].shape[0] == 2  # two rows, one with a padding run
    masked_loss, masked_grads = _loss_and_grads(model, batch)
    with packed_attention(model) as active:
        assert active
        loss, grads = _loss_and_grads(model, batch)
    assert abs(loss - masked_loss) < 1e-4 * abs(masked_loss)
    assert torch.allclose(grads, masked_grads, rtol=1e-4, atol=1e-6)


def test_packed_attention_matches_training_each_example_alone(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    examples = _examples()
    alone = sum(float(summed_token_loss(model, collate_padded([e], 0))[0]) for e in examples)
    with packed_attention(model):
        packed, _ = summed_token_loss(model, collate_packed(pack_examples(examples, 40)))
    assert abs(float(packed) - alone) < 1e-4 * alone


def test_packed_attention_restores_the_implementation_on_exit(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    with packed_attention(model):
        assert model.config._attn_implementation != "sdpa"
    assert model.config._attn_implementation == "sdpa"


def test_packed_attention_leaves_other_implementations_alone(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    with packed_attention(model) as active:
        assert not active
        assert model.config._attn_implementation == "eager"


def test_models_off_the_cpu_keep_the_masked_attention(tiny_model_dir) -> None:
    # "meta" stands in for a GPU here: any device but the CPU keeps transformers' kernel.
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    model.to("meta")
    with packed_attention(model) as active:
        assert not active
        assert model.config._attn_implementation == "sdpa"


def test_each_example_runs_the_flash_kernel_not_the_math_kernel(tiny_model_dir) -> None:
    # The math kernel materialises length x length scores: with answer notes (examples of
    # ~650 tokens) it made steps 1.2-1.4x slower (docs/performance.md).
    from torch.profiler import ProfilerActivity, profile

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    batch = collate_packed(pack_examples(_examples(), 20), pad_token_id=0, pad_to=24)
    with packed_attention(model), profile(activities=[ProfilerActivity.CPU]) as prof:
        _loss_and_grads(model, batch)
    ops = {event.key for event in prof.key_averages()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in ops
    assert "aten::_scaled_dot_product_attention_math" not in ops
