"""Reuse what the frozen blocks compute: their output per example, kept after the first pass.

With `method.name: freeze` the blocks below the lowest trainable one never change, so the
hidden states they hand to it are the same every epoch for the same example. Measured on the
default model (freeze 10 of 30 blocks, 8 Northpeak examples with answer notes per step, fp32,
2 cores): the forward pass through the 20 frozen blocks took 2.7-2.9 s of 7.3-8.8 s steps,
a third of the time. The first epoch runs the whole model and keeps, per example, the input of
the lowest trainable block; later epochs (and every validation after the first) start there.

The kept states are exactly the ones the frozen blocks computed, so losses and gradients equal
the uncached run's up to rounding in the order of a matrix multiply's sums. Before the first
step the two paths are compared on one example: a model whose blocks are not deterministic in
training (dropout) or whose decoder does more than embed, run the blocks and normalise (Gemma
scales its embeddings, for instance) fails the comparison and trains without the cache, saying
why in the run record. Examples beyond the memory budget simply run the whole model.

Written here rather than taken from a library: neither transformers nor peft keeps the
activations of frozen layers across epochs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

# One row per entry; each row lists the batch's items (by position) packed into it, in order.
Layout = list[list[int]]
MIB = 1024**2


@dataclass
class PrefixCache:
    """Per-example inputs of block `first_block`, kept while memory allows."""

    decoder: Any = None
    first_block: int = 0
    budget_bytes: int = 0
    off_reason: str | None = "not set up"
    bytes_used: int = 0
    served: int = 0  # examples that started at `first_block` instead of the embeddings
    _states: dict[int, tuple[Any, torch.Tensor]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.off_reason is None

    def summary(self) -> dict[str, Any]:
        """What the run record keeps: whether it was used, why not, and how much it held."""
        return {
            "enabled": self.enabled,
            "off_reason": self.off_reason,
            "first_block": self.first_block,
            "examples": len(self._states),
            "mb": round(self.bytes_used / MIB, 1),
            "budget_mb": round(self.budget_bytes / MIB, 1),
            "served": self.served,
        }

    @contextlib.contextmanager
    def forward(
        self, items: Sequence[Any], layout: Layout, batch: dict[str, torch.Tensor]
    ) -> Iterator[dict[str, torch.Tensor]]:
        """The batch to run inside: cached block inputs when every item has them.

        Otherwise the batch runs the whole model and the items' block inputs are kept on exit.
        """
        if not self.enabled or not items:
            yield batch
            return
        if all(id(item) in self._states for item in items):
            with self._from_first_block():
                yield self._cached_batch(items, layout, batch)
            self.served += len(items)
            return
        with self._keeping(items, layout):
            yield batch

    def _cached_batch(
        self, items: Sequence[Any], layout: Layout, batch: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        first = self._states[id(items[0])][1]
        rows, width = batch["input_ids"].shape
        hidden = first.new_zeros((rows, width, first.shape[-1]))
        for row, members in enumerate(layout):
            offset = 0
            for member in members:
                state = self._states[id(items[member])][1]
                hidden[row, offset : offset + state.shape[0]] = state
                offset += state.shape[0]
        rest = {key: value for key, value in batch.items() if key != "input_ids"}
        return {**rest, "inputs_embeds": hidden}

    def _keep(self, items: Sequence[Any], layout: Layout, hidden: torch.Tensor) -> None:
        for row, members in enumerate(layout):
            offset = 0
            for member in members:
                item = items[member]
                length = len(item.input_ids)
                size = length * hidden.shape[-1] * hidden.element_size()
                if id(item) not in self._states and self.bytes_used + size <= self.budget_bytes:
                    self._states[id(item)] = (item, hidden[row, offset : offset + length].clone())
                    self.bytes_used += size
                offset += length

    @contextlib.contextmanager
    def _keeping(self, items: Sequence[Any], layout: Layout) -> Iterator[None]:
        # Kept as the block receives its input, before it could change it in place: only the
        # examples that fit the budget are copied, once each.
        def keep_input(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            hidden = args[0] if args else kwargs.get("hidden_states")
            if isinstance(hidden, torch.Tensor):
                self._keep(items, layout, hidden.detach())

        handle = self.decoder.layers[self.first_block].register_forward_pre_hook(
            keep_input, with_kwargs=True
        )
        try:
            yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def _from_first_block(self) -> Iterator[None]:
        # The decoder runs `self.layers` in order between the embeddings and the final norm;
        # handing it the upper blocks alone, with the kept states as its input embeddings,
        # runs exactly the part of the model that still changes. Parameters stay the same
        # objects, so the optimizer and saving never see the swap.
        layers = self.decoder.layers
        self.decoder.layers = torch.nn.ModuleList(list(layers)[self.first_block :])
        try:
            yield
        finally:
            self.decoder.layers = layers


def build_prefix_cache(
    decoder: Any,
    first_block: int,
    *,
    budget_bytes: int,
    noise: bool,
) -> PrefixCache:
    """A cache for the blocks below `first_block`, or a disabled one that says why."""
    cache = PrefixCache(decoder=decoder, first_block=first_block, budget_bytes=budget_bytes)
    layers = getattr(decoder, "layers", None)
    if first_block <= 0:
        cache.off_reason = "every block trains (nothing frozen below the trained blocks)"
    elif budget_bytes <= 0:
        cache.off_reason = "train.prefix_cache_mb is 0"
    elif noise:
        cache.off_reason = "train.neftune_alpha adds fresh noise to the embeddings every step"
    elif not isinstance(layers, torch.nn.ModuleList) or first_block >= len(layers):
        cache.off_reason = "the decoder keeps its blocks somewhere other than `layers`"
    elif _has_dropout(layers[:first_block]):
        cache.off_reason = "the frozen blocks use dropout, so they are not deterministic"
    elif len(set(getattr(getattr(decoder, "config", None), "layer_types", None) or [""])) > 1:
        # Such decoders pick each block's mask (sliding window or full) by its position in
        # `layers`, which running the upper blocks alone would shift.
        cache.off_reason = "the blocks mix attention types (sliding window and full)"
    else:
        cache.off_reason = None
    return cache


def verify_prefix_cache(cache: PrefixCache, loss_fn: Any, item: Any, batch: dict) -> None:
    """Turn the cache off unless starting at the first trained block gives the same loss.

    `loss_fn(batch)` runs the model on `batch` (one example, one row) and returns its summed
    loss; it runs twice, the whole model and then from the kept states, without gradients.
    """
    if not cache.enabled:
        return
    probe = PrefixCache(
        decoder=cache.decoder, first_block=cache.first_block, budget_bytes=2**62, off_reason=None
    )
    device = batch["input_ids"].device
    # The check must not move the random streams that training draws from (dropout above).
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            with torch.no_grad():
                with probe.forward([item], [[0]], batch) as whole:
                    expected = loss_fn(whole)
                with probe.forward([item], [[0]], batch) as upper:
                    if "inputs_embeds" not in upper:
                        cache.off_reason = "the first trained block's input could not be captured"
                        return
                    got = loss_fn(upper)
        except Exception as exc:  # a decoder that cannot start at a block trains as before
            cache.off_reason = f"starting at block {cache.first_block} failed: {exc}"
            return
    # The same kernels on the same values: equal but for the odd rounding difference; a real
    # mismatch (a decoder that rescales its input) moves the loss by whole percent.
    if not torch.allclose(got.float(), expected.float(), rtol=1e-5, atol=1e-6):
        cache.off_reason = (
            f"starting at block {cache.first_block} changed the loss ({float(expected):.5f} -> "
            f"{float(got):.5f}): this model's frozen blocks are not deterministic or its "
            "decoder does more than run its blocks"
        )


# Attribute names under which transformers' blocks keep a dropout probability that they apply
# functionally (Llama's attention, for instance, has no nn.Dropout module).
DROPOUT_ATTRIBUTES = ("attention_dropout", "dropout", "hidden_dropout", "attn_pdrop", "resid_pdrop")


def _has_dropout(blocks: torch.nn.Module) -> bool:
    for module in blocks.modules():
        if isinstance(module, torch.nn.Dropout) and module.p > 0:
            return True
        for name in DROPOUT_ATTRIBUTES:
            value = getattr(module, name, None)
            if isinstance(value, float) and value > 0:
                return True
    return False
