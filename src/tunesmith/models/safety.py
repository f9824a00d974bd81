"""Checks that run before any weights are read: only safe formats, no silent remote code.

Pickle-based checkpoints (`.bin`, `.pt`, `.pth`, `.ckpt`, `.pkl`) can execute arbitrary code
when loaded, so tunesmith never opens them; weights come only from safetensors or GGUF.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.errors import ModelFormatError, UnsafeModelError, UsageError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFETENSORS_INDEX = "model.safetensors.index.json"


def read_model_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json as a dict, with clear errors when it is missing or broken."""
    if not folder.exists():
        raise UsageError(f"model folder {folder} does not exist", hint="check the path")
    if not folder.is_dir():
        raise UsageError(
            f"{folder} is a file, not a model folder",
            hint="pass the folder that holds config.json and *.safetensors, or a .gguf file",
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelFormatError(
            f"{folder} has no config.json, so it is not a Hugging Face model folder",
            hint="pass the folder that holds config.json and *.safetensors, or a .gguf file",
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFormatError(f"{config_path}: expected a JSON object")
    return config


def safetensors_files(folder: Path) -> list[Path]:
    """The safetensors weight files of a folder, in a stable order."""
    return sorted(folder.glob("*.safetensors"))


def check_weights_are_safe(folder: Path) -> list[Path]:
    """Return the safetensors files; refuse folders that only have pickle weights."""
    weights = safetensors_files(folder)
    if weights:
        return weights
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeModelError(
            f"{folder} holds only pickle weights ({', '.join(pickles)}); tunesmith loads "
            "weights only from safetensors or GGUF because loading a pickle file can run any "
            "code it contains",
            hint="convert it once, on a machine you trust, from a source you trust: "
            "load it with transformers and call save_pretrained(OUT, safe_serialization=True)",
        )
    raise ModelFormatError(
        f"{folder} has a config.json but no weights (*.safetensors)",
        hint="copy the model's .safetensors files into the folder",
    )


def check_remote_code(folder: Path, config: dict[str, Any], trust_remote_code: bool) -> None:
    """Refuse models whose config asks for Python code shipped with the model, unless allowed."""
    if config.get("auto_map") and not trust_remote_code:
        raise UnsafeModelError(
            f"{folder} needs custom Python code shipped with the model (auto_map in config.json)",
            hint="read that code first; to run it anyway pass --trust-remote-code "
            "(model.trust_remote_code: true)",
        )


def check_architecture(folder: Path, config: dict[str, Any], trust_remote_code: bool) -> str:
    """The model type, if transformers knows it (or remote code is explicitly allowed)."""
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not model_type:
        raise ModelFormatError(f"{folder}/config.json has no model_type")
    if model_type not in CONFIG_MAPPING and not (trust_remote_code and config.get("auto_map")):
        import transformers

        raise ModelFormatError(
            f"{folder}: unknown architecture {model_type!r} for transformers "
            f"{transformers.__version__}",
            hint="use a model of a supported architecture (llama, mistral, qwen2, gemma, phi3, "
            "...) or upgrade transformers",
        )
    return str(model_type)


def check_model_folder(folder: Path, *, trust_remote_code: bool = False) -> dict[str, Any]:
    """All pre-load checks on a Hugging Face folder; returns its config."""
    config = read_model_config(folder)
    check_weights_are_safe(folder)
    check_remote_code(folder, config, trust_remote_code)
    check_architecture(folder, config, trust_remote_code)
    return config
