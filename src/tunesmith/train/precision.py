"""Compute precision: bf16 where the hardware does it natively, fp32 master weights always."""

from __future__ import annotations

import contextlib
from typing import Any

import torch


def bf16_supported(device: torch.device) -> bool:
    """True on CUDA GPUs with bf16 and on CPUs with AVX-512 BF16 or AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """'bf16' or 'fp32' for a config value of auto, fp32 or bf16."""
    if requested == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return requested


def cast_frozen_weights(model: torch.nn.Module, precision: str) -> None:
    """Store frozen weights in bf16 so they are not re-cast every step; trainable stay fp32."""
    if precision != "bf16":
        return
    for param in model.parameters():
        if not param.requires_grad and param.dtype == torch.float32:
            param.data = param.data.to(torch.bfloat16)
        elif param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def autocast(precision: str, device: torch.device) -> Any:
    """bf16 autocast for matmuls (fp32 master weights), or nothing for fp32."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
