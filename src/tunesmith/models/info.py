"""Describe a model without loading its weights: read config.json and safetensors headers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunesmith.models.gguf_cache import is_complete_cache, read_cache_marker
from tunesmith.models.resolve import model_folder, resolve_source
from tunesmith.models.safety import read_model_config, safetensors_files

SAFETENSORS_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F64": "float64"}
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


@dataclass
class ModelInfo:
    """What `tunesmith models show` reports."""

    name: str
    source_kind: str
    source_path: str
    folder: str
    cache_path: str | None
    architecture: str
    model_type: str
    parameters: int
    layers: int | None
    hidden_size: int | None
    vocab_size: int | None
    context_length: int | None
    dtype: str
    chat_template: bool
    source_sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_info(name: str, *, trust_remote_code: bool = False) -> ModelInfo:
    """Resolve `name` (converting a GGUF once) and describe the resulting folder."""
    source = resolve_source(name)
    folder = model_folder(source, trust_remote_code=trust_remote_code)
    config = read_model_config(folder)
    parameters, dtype = count_parameters(folder, tied=bool(config.get("tie_word_embeddings")))
    cached = source.is_gguf and is_complete_cache(folder)
    return ModelInfo(
        name=source.name,
        source_kind=source.kind,
        source_path=str(source.path),
        folder=str(folder),
        cache_path=str(folder) if cached else None,
        architecture=(config.get("architectures") or [config.get("model_type", "?")])[0],
        model_type=str(config.get("model_type")),
        parameters=parameters,
        layers=config.get("num_hidden_layers") or config.get("n_layer"),
        hidden_size=config.get("hidden_size") or config.get("n_embd"),
        vocab_size=config.get("vocab_size"),
        context_length=next((config[k] for k in CONTEXT_KEYS if k in config), None),
        dtype=dtype,
        chat_template=has_chat_template(folder),
        source_sha256=read_cache_marker(folder).get("source_sha256") if cached else None,
    )


def model_identity(source: Any, folder: Path) -> dict[str, Any]:
    """Name, origin and content hash of a base model, for run provenance."""
    if source.is_gguf and is_complete_cache(folder):
        digest = read_cache_marker(folder).get("source_sha256")
        hashed = "gguf file"
    else:
        import hashlib

        from tunesmith.models.gguf_cache import file_sha256

        combined = hashlib.sha256()
        for weights in safetensors_files(folder):
            combined.update(file_sha256(weights).encode())
        digest, hashed = combined.hexdigest(), "safetensors files"
    return {
        "name": source.name,
        "kind": source.kind,
        "source": str(source.path),
        "folder": str(folder),
        "sha256": digest,
        "sha256_of": hashed,
    }


def count_parameters(folder: Path, *, tied: bool = False) -> tuple[int, str]:
    """Total parameters and their dtype, from the safetensors headers alone.

    With tied embeddings a checkpoint may still store lm_head.weight; it is the same tensor as
    the input embedding, so it is not counted twice.
    """
    from safetensors import safe_open

    total = 0
    dtypes: set[str] = set()
    for weights in safetensors_files(folder):
        with safe_open(weights, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                if tied and key.endswith("lm_head.weight"):
                    continue
                tensor = handle.get_slice(key)
                total += math.prod(tensor.get_shape())
                dtypes.add(SAFETENSORS_DTYPES.get(tensor.get_dtype(), tensor.get_dtype()))
    return total, "+".join(sorted(dtypes)) or "unknown"


def has_chat_template(folder: Path) -> bool:
    """Whether the tokenizer in `folder` ships a chat template (file or tokenizer_config)."""
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    tokenizer_config = folder / "tokenizer_config.json"
    if not tokenizer_config.is_file():
        return False
    import json

    return bool(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("chat_template"))


@dataclass
class ModelListing:
    """One row of `tunesmith models list`."""

    name: str
    kind: str
    status: str
    path: str | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_models() -> list[ModelListing]:
    """Registered embedded models, converted models in the cache, and the local hub cache."""
    from tunesmith.models.gguf_cache import cache_folder_for
    from tunesmith.models.registry import EMBEDDED_MODELS, locate_embedded_file

    rows = []
    for embedded in EMBEDDED_MODELS.values():
        path = locate_embedded_file(embedded)
        if path is None:
            status = f"not installed ({embedded.install_hint()})"
        elif is_complete_cache(cache_folder_for(path, embedded.name)):
            status = "ready (cached)"
        else:
            status = "installed (converted on first use)"
        rows.append(
            ModelListing(
                embedded.name, "embedded", status, path and str(path), embedded.description
            )
        )
    rows.extend(_hub_cache_rows())
    return rows


def _hub_cache_rows() -> list[ModelListing]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir()
    except (CacheNotFound, OSError):
        return []
    return [
        ModelListing(
            repo.repo_id, "hub-cache", "ready", str(repo.repo_path), "local Hugging Face cache"
        )
        for repo in sorted(cache.repos, key=lambda r: r.repo_id)
        if repo.repo_type == "model"
    ]
