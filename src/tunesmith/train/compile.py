"""Regional torch.compile: each decoder block's MLP and norms, compiled in place.

Why regions and not the whole model: the attention over packed rows loops over examples in
Python (train/attention.py), which would break a whole-model graph at every call, and per-row
lengths change every step. The MLPs and RMSNorms hold most of a step's elementwise work (SiLU,
gating, normalisation, LoRA's extra matmuls), which inductor fuses; with `dynamic=True` one graph
serves every row length. `nn.Module.compile` compiles in place, so parameter names, state
dicts, checkpoints and saved adapters are unchanged.

Measured on SmolLM2-135M, LoRA, packed Northpeak steps, 2 CPU cores (docs/performance.md):
over 60 steps the median step took 1.86 s instead of 1.99 s, but compiling took about 20 s at
the first step on a cold inductor cache (19.5-20.7 s), and new shapes recompiled (a second row, the
requires-grad change after the first block, validation without gradients: 9.7 s more at the
first two-row step), so the whole run took 141.8 s instead of 121.1 s. It is therefore off by
default (`train.compile: on` to use it) until it pays at the run lengths people train.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import torch

from tunesmith.errors import ConfigError
from tunesmith.methods.blocks import decoder_blocks, final_norm

COMPILERS = ("c++", "g++", "clang++")


@dataclass(frozen=True)
class CompilePlan:
    enabled: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "reason": self.reason}


def plan_compile(setting: str, device: torch.device) -> CompilePlan:
    """Whether to compile, and why, for `train.compile` = on or off."""
    if setting == "off":
        return CompilePlan(False, "train.compile is off")
    if device.type == "cpu" and _cpp_compiler() is None:
        raise ConfigError(
            "train.compile is on, but no C++ compiler was found (torch.compile needs one on "
            "the CPU)",
            hint="install g++ (Debian/Ubuntu: apt install g++), or set train.compile=off",
        )
    return CompilePlan(True, "train.compile is on")


def compile_blocks(model: Any) -> int:
    """Compile, in place, every child of each decoder block except its attention, and the
    final norm; returns how many modules were compiled."""
    modules = [
        child
        for block in decoder_blocks(model)
        for name, child in block.named_children()
        if not name.endswith(("attn", "attention"))  # self_attn; post_attention_layernorm stays
    ]
    norm = final_norm(model)
    if norm is not None:
        modules.append(norm)
    for module in modules:
        module.compile(dynamic=True)
    return len(modules)


def _cpp_compiler() -> str | None:
    return next((path for name in COMPILERS if (path := shutil.which(name))), None)
