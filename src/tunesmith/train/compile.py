"""Regional torch.compile: each decoder block's MLP and norms, compiled in place.

Why regions and not the whole model: the attention over packed rows loops over examples in
Python (train/attention.py), which would break a whole-model graph at every call, and per-row
lengths change every step. The MLPs and RMSNorms hold most of a step's elementwise work (SiLU,
gating, normalisation, LoRA's extra matmuls), which inductor fuses; with `dynamic=True` one graph
serves every row length. `nn.Module.compile` compiles in place, so parameter names, state
dicts, checkpoints and saved adapters are unchanged.

Measured on SmolLM2-135M, LoRA, 30 packed Northpeak steps, 2 CPU cores (docs/performance.md):
steps 4-30 took 46.4 s instead of 53.3 s (1.15x); the first step 6.1 s instead of 3.8 s
(compiling, with inductor's on-disk cache warm; about 20 s on a cold cache). Hence `auto`
compiles only runs long enough to repay a cold compile, and only on the CPU, where it was
measured.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import torch

from tunesmith.errors import ConfigError

# A cold compile (~20 s) pays back at ~0.27 s saved per step after about 80 steps.
AUTO_MIN_STEPS = 100
COMPILERS = ("c++", "g++", "clang++")


@dataclass(frozen=True)
class CompilePlan:
    enabled: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "reason": self.reason}


def plan_compile(setting: str, device: torch.device, total_steps: int) -> CompilePlan:
    """Whether to compile, and why, for `train.compile` = auto, on or off."""
    if setting == "off":
        return CompilePlan(False, "train.compile is off")
    compiler = _cpp_compiler()
    if setting == "on":
        if device.type == "cpu" and compiler is None:
            raise ConfigError(
                "train.compile is on, but no C++ compiler was found (torch.compile needs one "
                "on the CPU)",
                hint="install g++ (Debian/Ubuntu: apt install g++), or set train.compile=off",
            )
        return CompilePlan(True, "train.compile is on")
    if device.type != "cpu":
        return CompilePlan(False, f"auto: measured on the CPU only, not on {device.type}")
    if total_steps < AUTO_MIN_STEPS:
        return CompilePlan(False, f"auto: {total_steps} steps, under {AUTO_MIN_STEPS}")
    if compiler is None:
        return CompilePlan(False, "auto: no C++ compiler found")
    return CompilePlan(True, f"auto: {total_steps} steps on the CPU")


def compile_blocks(model: Any) -> int:
    """Compile, in place, every child of each decoder block except its attention, and the
    final norm; returns how many modules were compiled."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder()
    modules = [
        child
        for layer in decoder.layers
        for name, child in layer.named_children()
        if not name.endswith(("attn", "attention"))  # self_attn; post_attention_layernorm stays
    ]
    norm = getattr(decoder, "norm", None)
    if norm is not None:
        modules.append(norm)
    for module in modules:
        module.compile(dynamic=True)
    return len(modules)


def _cpp_compiler() -> str | None:
    return next((path for name in COMPILERS if (path := shutil.which(name))), None)
