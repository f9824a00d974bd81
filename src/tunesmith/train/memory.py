"""Memory: estimate before training (refuse early with the numbers), measure the peak after."""

from __future__ import annotations

import resource
import sys
from typing import Any

import torch

from tunesmith.errors import TunesmithError

GIB = 1024**3


def estimate_training_bytes(setup: Any, config: Any, dataset: Any, precision: str) -> int:
    """Weights + gradients + AdamW state + a rough activation budget for one micro-batch."""
    trainable, total = setup.counts()
    frozen_bytes = (total - trainable) * (2 if precision == "bf16" else 4)
    # fp32 weight, fp32 gradient, two fp32 AdamW moments.
    trainable_bytes = trainable * 16
    model_config = getattr(setup.model, "config", None)
    hidden = getattr(model_config, "hidden_size", 1024)
    layers = getattr(model_config, "num_hidden_layers", 24)
    micro = max(1, config.train.batch_size // config.train.grad_accum)
    length = max((len(item.input_ids) for item in dataset.train), default=1)
    # About 34 saved values per hidden unit per layer for a Llama-style block (attention and
    # MLP inputs, norms, activations), in the compute dtype: a coarse upper estimate.
    activation_bytes = micro * length * hidden * layers * 34 * (2 if precision == "bf16" else 4)
    return frozen_bytes + trainable_bytes + activation_bytes


def available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(setup: Any, config: Any, dataset: Any, precision: str, device: Any) -> int:
    """Refuse before the first step when the run clearly cannot fit."""
    needed = estimate_training_bytes(setup, config, dataset, precision)
    free = available_bytes(device)
    if needed > free:
        raise TunesmithError(
            f"training needs about {needed / GIB:.1f} GiB but only {free / GIB:.1f} GiB is "
            f"available on {device}",
            hint="lower train.batch_size (raise train.grad_accum), shorten data.seq_len, or use "
            "method.name=lora",
        )
    return needed


def peak_memory_mb() -> float:
    """Peak resident memory of this process (and GPU peak allocation when on CUDA)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kilobytes
    resident_mb = peak * scale / 1024**2
    if torch.cuda.is_available():
        return round(max(resident_mb, torch.cuda.max_memory_allocated() / 1024**2), 1)
    return round(resident_mb, 1)
