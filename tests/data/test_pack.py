"""Packing: several examples per row, trained exactly as if each were alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tunesmith.data.pack import (
    PackedSequence,
    collate_packed,
    collate_padded,
    pack_even,
    pack_examples,
    padding_stats,
)
from tunesmith.data.render import tokenize_conversation
from tunesmith.data.types import IGNORE_INDEX, Conversation, Message, TokenizedExample
from tunesmith.errors import DataError
from tunesmith.models.loader import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> Any:
    # tunesmith's own loader: it guarantees a pad token, which some transformers releases
    # (5.17) leave unset for this tokenizer.
    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def model(request: pytest.FixtureRequest, tiny_model_dir: Path) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, attn_implementation=request.param, dtype=torch.float32
    )
    return model.eval()


@pytest.fixture(scope="module")
def examples(tokenizer: Any) -> list[TokenizedExample]:
    """Six chat examples of different lengths, rendered with the real template."""
    out = []
    for i in range(1, 7):
        conversation = Conversation(
            (
                Message("user", f"Question {i}: how long is delivery to zone {i}?"),
                Message("assistant", f"Delivery to zone {i} takes {i + 1} days. " * i),
            )
        )
        out.append(tokenize_conversation(tokenizer, conversation))
    return out


def example(ids: list[int], labels: list[int] | None = None) -> TokenizedExample:
    return TokenizedExample(list(ids), list(labels if labels is not None else ids))


def mean_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of token losses over trained tokens / their number (logits at t predict t + 1)."""
    shifted_logits, shifted_labels = logits[:, :-1].float(), labels[:, 1:]
    total = torch.nn.functional.cross_entropy(
        shifted_logits.reshape(-1, shifted_logits.shape[-1]),
        shifted_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return total / (shifted_labels != IGNORE_INDEX).sum()


def packed_logits(model: Any, batch: dict[str, torch.Tensor], **kwargs: Any) -> torch.Tensor:
    with torch.no_grad():
        inputs = {k: batch[k] for k in ("input_ids", "position_ids")}
        return model(**inputs, use_cache=False, **kwargs).logits


def test_packed_loss_equals_unpacked_loss(model: Any, tokenizer: Any, examples: list) -> None:
    rows = pack_examples(examples, 160)
    assert len(rows) < len(examples)  # several examples really share rows
    packed = collate_packed(rows, pad_token_id=tokenizer.pad_token_id)
    padded = collate_padded(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        unpacked_logits = model(**padded).logits
    packed_loss = mean_token_loss(packed_logits(model, packed), packed["labels"])
    unpacked_loss = mean_token_loss(unpacked_logits, padded["labels"])
    assert abs(packed_loss.item() - unpacked_loss.item()) < 1e-4


def test_models_own_loss_on_a_packed_batch_is_the_mean_over_trained_tokens(
    model: Any, tokenizer: Any, examples: list
) -> None:
    packed = collate_packed(pack_examples(examples, 160), pad_token_id=tokenizer.pad_token_id)
    with torch.no_grad():
        out = model(**packed, use_cache=False)
    assert abs(out.loss.item() - mean_token_loss(out.logits, packed["labels"]).item()) < 1e-5


def test_attention_does_not_cross_example_boundaries(model: Any, tokenizer: Any) -> None:
    first, second = example(range(100, 120)), example(range(300, 315))
    changed_first = example(range(500, 520))
    row = pack_examples([first, second], 64)[0]
    other = pack_examples([changed_first, second], 64)[0]
    assert row.lengths == other.lengths == [20, 15]
    logits = packed_logits(model, collate_packed([row]))
    other_logits = packed_logits(model, collate_packed([other]))
    assert not torch.allclose(logits[0, :20], other_logits[0, :20])
    torch.testing.assert_close(logits[0, 20:], other_logits[0, 20:], atol=1e-5, rtol=0)


def test_default_model_call_builds_a_cache_and_attends_across_examples(
    model: Any, tokenizer: Any
) -> None:
    # Guards the reason callers must pass use_cache=False: transformers only detects packed
    # rows when there is no KV cache, and a config with use_cache=true creates one.
    assert model.config.use_cache
    first, second = example(range(100, 120)), example(range(300, 315))
    changed = pack_examples([example(range(500, 520)), second], 64)[0]
    batches = [collate_packed(pack_examples([first, second], 64)), collate_packed([changed])]
    with torch.no_grad():
        tails = [
            model(**{k: b[k] for k in ("input_ids", "position_ids")}).logits[0, 20:]
            for b in batches
        ]
    assert not torch.allclose(tails[0], tails[1], atol=1e-5)


def test_positions_restart_for_each_example() -> None:
    row = pack_examples([example(range(5)), example(range(3))], 10)[0]
    assert row.lengths == [5, 3]
    assert row.position_ids == [0, 1, 2, 3, 4, 0, 1, 2]


def test_first_label_of_each_packed_example_is_ignored() -> None:
    row = pack_examples([example(range(10, 15)), example(range(20, 23))], 10)[0]
    assert row.labels == [IGNORE_INDEX, 11, 12, 13, 14, IGNORE_INDEX, 21, 22]


def test_every_example_is_packed_once_within_seq_len() -> None:
    lengths = [7, 3, 9, 1, 5, 5, 2, 8, 4, 6]
    examples = [example([n] * n) for n in lengths]
    rows = pack_examples(examples, 10)
    assert all(len(row.input_ids) <= 10 for row in rows)
    assert sorted(n for row in rows for n in row.lengths) == sorted(lengths)
    assert len(rows) == 5  # 9+1, 8+2, 7+3, 6+4, 5+5: every row full


def test_even_packing_keeps_the_row_count_and_narrows_the_batch() -> None:
    examples = [example([n] * n) for n in (600, 400, 100)]
    greedy, even = pack_examples(examples, 1024), pack_even(examples, 1024)
    assert [len(r.input_ids) for r in greedy] == [1000, 100]  # a 2 x 1000 batch
    assert len(even) == 2
    assert max(len(r.input_ids) for r in even) == 600  # a 2 x 600 batch
    assert sorted(n for row in even for n in row.lengths) == [100, 400, 600]


def test_even_packing_of_one_row_is_the_plain_packing() -> None:
    examples = [example([n] * n) for n in (7, 3, 5)]
    assert pack_even(examples, 20) == pack_examples(examples, 20)


def test_even_packing_leaves_the_loss_unchanged(model: Any, tokenizer: Any, examples: list) -> None:
    greedy = collate_packed(pack_examples(examples, 160), pad_token_id=tokenizer.pad_token_id)
    even = collate_packed(pack_even(examples, 160), pad_token_id=tokenizer.pad_token_id)
    assert even["input_ids"].numel() < greedy["input_ids"].numel()  # less padding computed
    greedy_loss = mean_token_loss(packed_logits(model, greedy), greedy["labels"])
    even_loss = mean_token_loss(packed_logits(model, even), even["labels"])
    assert abs(even_loss.item() - greedy_loss.item()) < 1e-5


def test_packing_is_deterministic_for_a_seed() -> None:
    examples = [example([n] * n) for n in [3, 3, 3, 2, 2, 4, 1, 5]]
    first = pack_examples(examples, 6, seed=1)
    assert first == pack_examples(examples, 6, seed=1)
    assert [r.input_ids for r in first] != [r.input_ids for r in pack_examples(examples, 6)]


def test_example_longer_than_seq_len_is_an_error() -> None:
    too_long = TokenizedExample([1] * 11, [1] * 11, source="train.jsonl", line=4)
    with pytest.raises(DataError, match=r"train\.jsonl:4: .* 11 tokens, .* length 10"):
        pack_examples([too_long], 10)


def test_collate_packed_pads_with_a_segment_of_its_own() -> None:
    rows = [
        PackedSequence([5, 6, 7], [-100, 6, 7], [0, 1, 2], [3]),
        PackedSequence([8], [-100], [0], [1]),
    ]
    batch = collate_packed(rows, pad_token_id=0)
    assert set(batch) == {"input_ids", "labels", "position_ids"}
    assert batch["input_ids"][1].tolist() == [8, 0, 0]
    assert batch["position_ids"][1].tolist() == [0, 0, 1]
    assert batch["labels"][1].tolist() == [-100, -100, -100]


def test_collate_padded_right_pads_with_a_mask_and_ignored_labels() -> None:
    batch = collate_padded([example([1, 2, 3]), example([4], [-100])], pad_token_id=9)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3], [-100, -100, -100]]


def test_padding_stats_compare_packed_and_unpacked_batches() -> None:
    examples = [example([1] * n) for n in (10, 2, 8, 4)]
    stats = padding_stats(examples, seq_len=12, batch_size=2)
    # Unpacked: batches (10, 2) and (8, 4) pad to 20 + 16 slots for 24 tokens.
    assert stats["padding_unpacked"] == pytest.approx(12 / 36)
    # Packed: rows 10 + 2 and 8 + 4 fill both rows exactly.
    assert stats["padding_packed"] == 0.0
    assert stats["packed_rows"] == 2
