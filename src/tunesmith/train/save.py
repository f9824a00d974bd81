"""What a finished run keeps in final/, in the format each method's users expect.

    lora   -> a PEFT adapter (adapter_config.json + adapter_model.safetensors), loadable by
              peft, vLLM and llama.cpp tooling, plus the tokenizer
    freeze -> trained.safetensors with only the tensors that trained, and method.json naming
              the base model they apply to, plus the tokenizer
    full   -> the whole model as safetensors (config.json + model.safetensors), plus tokenizer

When validation ran, final/ holds the weights of the best validation loss (kept on disk as
checkpoints/best.safetensors while training), not merely the last step's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tunesmith.methods import MethodSetup

BEST_FILE = "best.safetensors"


def trainable_state(setup: MethodSetup) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().float().cpu().contiguous()
        for name, p in setup.model.named_parameters()
        if p.requires_grad
    }


def save_best(folder: Any, setup: MethodSetup, step: int) -> Path:
    """Keep the trainable weights of the best validation loss so far (atomic replace)."""
    path = folder.path / "checkpoints" / BEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    save_file(trainable_state(setup), str(temporary), metadata={"step": str(step)})
    os.replace(temporary, path)
    return path


def restore_best(folder: Any, setup: MethodSetup) -> int | None:
    """Load the best weights into the model; the step they came from, or None if none kept."""
    path = folder.path / "checkpoints" / BEST_FILE
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        step = int((handle.metadata() or {}).get("step", 0))
    params = dict(setup.model.named_parameters())
    with torch.no_grad():
        for name, tensor in load_file(str(path)).items():
            params[name].copy_(tensor.to(params[name].dtype))
    return step


def save_final(folder: Any, setup: MethodSetup, tokenizer: Any, config: Any) -> dict[str, Any]:
    final = folder.final_dir
    final.mkdir(parents=True, exist_ok=True)
    best_step = restore_best(folder, setup)
    if setup.name == "lora":
        setup.model.save_pretrained(final, safe_serialization=True)
    elif setup.name == "freeze":
        save_file(trainable_state(setup), str(final / "trained.safetensors"))
    else:
        setup.model.save_pretrained(final, safe_serialization=True)
    tokenizer.save_pretrained(final)
    info = {
        "method": setup.name,
        "base_model": config.model.name,
        "weights_from": f"best validation loss (step {best_step})" if best_step else "last step",
        "trained_tensors": len(setup.trainable),
    }
    (final / "method.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    folder.update(final=info)
    return info
