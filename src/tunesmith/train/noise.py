"""Noisy embeddings while training (NEFTune, Jain et al. 2023, arXiv:2310.05914).

Uniform noise of magnitude alpha / sqrt(length * hidden) is added to the input embeddings on
every training forward, never at evaluation or generation. The paper reports answers that
generalise better after instruction tuning at no extra cost; transformers' Trainer offers the
same switch (`neftune_noise_alpha`). A forward hook on the embedding layer is all it takes, so
it works for every architecture and for LoRA, freeze and full alike. With packed rows, length
is the row length, as in the Trainer with packing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch


@contextlib.contextmanager
def embedding_noise(model: Any, alpha: float | None) -> Iterator[None]:
    """Add NEFTune noise to `model`'s input embeddings in training mode while inside."""
    if not alpha:
        yield
        return
    embeddings = model.get_input_embeddings()

    def add_noise(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        magnitude = alpha / math.sqrt(output.shape[-2] * output.shape[-1])
        return output + torch.empty_like(output).uniform_(-magnitude, magnitude)

    handle = embeddings.register_forward_hook(add_noise)
    try:
        yield
    finally:
        handle.remove()
