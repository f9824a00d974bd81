"""Optimizer, learning-rate schedule and method defaults."""

from __future__ import annotations

import math
from typing import Any

import torch

from tunesmith.config import TrainConfig

# Peak learning rates per method. LoRA's small matrices start at zero and need a large step to
# move; full fine-tuning moves every pretrained weight, so a large rate erases general skills.
# Freeze (the last third of the blocks) learned facts best at 1e-3 on the sample company:
# held-out key-fact recall 14% at 2e-4, 20% at 5e-4, 30% at 1e-3, 34% at 2e-3, with forgetting
# growing past 1e-3 (docs/specialization.md). Full fine-tuning with answer notes (3 epochs):
# 59.8% recall at 5e-5 over two seeds with ARC-Easy and PIQA within 1 point of the base model and
# LAMBADA -5; 1e-4 recalled the same (60.3%) and forgot more (LAMBADA -9); 1e-4 without notes
# under-fitted already, so the old 2e-5 was lower than any rate that learned the facts.
DEFAULT_LR = {"lora": 2e-4, "freeze": 1e-3, "full": 5e-5}


def peak_lr(config: TrainConfig, method: str) -> float:
    return config.lr if config.lr is not None else DEFAULT_LR[method]


def build_optimizer(params: list[torch.nn.Parameter], config: TrainConfig, lr: float) -> Any:
    """AdamW, fused when the device supports it (one kernel for the whole update)."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [group for group in groups if group["params"]]
    fused = _fused_supported(params)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=fused)


def build_scheduler(optimizer: Any, config: TrainConfig, total_steps: int) -> Any:
    """Linear warm-up, then cosine, linear or constant decay (transformers' schedules)."""
    from transformers import get_scheduler

    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}
    warmup = math.ceil(config.warmup_ratio * total_steps)
    return get_scheduler(
        name[config.schedule],
        optimizer=optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total_steps,
    )


def _fused_supported(params: list[torch.nn.Parameter]) -> bool:
    # Fused AdamW exists for CPU and CUDA floating-point tensors in torch >= 2.4.
    return bool(params) and all(p.dtype in (torch.float32, torch.bfloat16) for p in params)
