"""Load a model and its tokenizer from a checked folder, safely and offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import ModelConfig
from tunesmith.errors import ModelFormatError
from tunesmith.models.resolve import ModelSource, model_folder, resolve_source


@dataclass
class LoadedModel:
    """A model ready to use, with the tokenizer and where it came from."""

    source: ModelSource
    folder: Path
    model: Any
    tokenizer: Any


def inference_device() -> str:
    """Where answers are generated: the first GPU when one is visible, else the CPU.

    `CUDA_VISIBLE_DEVICES=` keeps evaluation, chat and serving on the CPU of a GPU machine.
    """
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str = "cpu") -> Any:
    """The torch dtype for a config value; auto keeps float32 on CPU, bf16 on capable GPUs."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(folder: Path, *, trust_remote_code: bool = False) -> Any:
    """The folder's tokenizer, with a pad token (left-padded batches need one)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{folder}: cannot load the tokenizer ({exc})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(config: ModelConfig | str, *, device: str = "cpu") -> LoadedModel:
    """Resolve, check and load a causal language model and its tokenizer."""
    from transformers import AutoModelForCausalLM

    if isinstance(config, str):
        config = ModelConfig(name=config)
    source = resolve_source(config.name)
    folder = model_folder(source, trust_remote_code=config.trust_remote_code)
    tokenizer = load_tokenizer(folder, trust_remote_code=config.trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            dtype=resolve_dtype(config.dtype, device),
            use_safetensors=True,
            local_files_only=True,
            trust_remote_code=config.trust_remote_code,
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelFormatError(f"{folder}: cannot load the weights ({exc})") from None
    model.to(device)
    model.eval()
    return LoadedModel(source=source, folder=folder, model=model, tokenizer=tokenizer)


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """End-of-turn ids: the generation config's eos ids plus the tokenizer's eos."""
    ids = model.generation_config.eos_token_id
    ids = list(ids) if isinstance(ids, (list, tuple)) else ([] if ids is None else [ids])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
