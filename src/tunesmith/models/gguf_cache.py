"""GGUF files: validate, then dequantize once into a cached Hugging Face folder.

transformers reads GGUF by dequantizing every tensor, which takes seconds; training and
evaluation then want a normal folder (config, safetensors, tokenizer with chat template). So the
first use converts the file and caches the result under TUNESMITH_HOME; later loads read the
cache. The cache is built in a temporary folder and renamed into place, so an interrupted first
load never leaves a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tunesmith.errors import ModelFormatError, UsageError
from tunesmith.home import models_cache_dir

GGUF_MAGIC = b"GGUF"
CACHE_MARKER = "tunesmith-cache.json"


def check_gguf_file(path: Path) -> dict[str, Any]:
    """Validate a GGUF file (magic, header, tensor extents); return its key metadata."""
    if not path.exists():
        raise UsageError(f"GGUF file {path} does not exist", hint="check the path")
    if not path.is_file():
        raise UsageError(f"{path} is not a file", hint="pass the path of a .gguf file")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFormatError(
            f"{path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})",
            hint="pass a .gguf model file exported by llama.cpp or transformers",
        )
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except Exception as exc:  # gguf raises ValueError/IndexError/... on broken files
        raise ModelFormatError(
            f"{path} is a damaged or truncated GGUF file ({type(exc).__name__}: {exc})",
            hint="download or copy the file again",
        ) from None
    size = path.stat().st_size
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise ModelFormatError(
            f"{path} is truncated: its tensors need {end} bytes, the file has {size}",
            hint="download or copy the file again",
        )
    return {
        "architecture": _field_text(reader, "general.architecture"),
        "name": _field_text(reader, "general.name"),
        "tensors": len(reader.tensors),
    }


def check_gguf_architecture(path: Path, architecture: str | None) -> None:
    """Refuse GGUF architectures that transformers cannot dequantize."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ModelFormatError(
            f"{path}: GGUF architecture {architecture!r} is not supported by transformers",
            hint=f"supported: {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))}",
        )


def cache_folder_for(path: Path, label: str) -> Path:
    """The cache folder for a GGUF file: keyed by its absolute path, size and modification time.

    A stat-based key avoids hashing ~100 MB on every load; a replaced file gets a new key.
    """
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return models_cache_dir() / f"{_slug(label)}-{key[:12]}"


def is_complete_cache(folder: Path) -> bool:
    """A cache folder is usable only once its marker exists (it is written last, then renamed)."""
    return (folder / CACHE_MARKER).is_file()


def read_cache_marker(folder: Path) -> dict[str, Any]:
    return json.loads((folder / CACHE_MARKER).read_text(encoding="utf-8"))


def ensure_gguf_cache(path: Path, label: str) -> Path:
    """The Hugging Face folder for a GGUF file, converting and caching it on first use."""
    target = cache_folder_for(path, label)
    if is_complete_cache(target):
        return target
    metadata = check_gguf_file(path)
    check_gguf_architecture(path, metadata["architecture"])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        started = time.perf_counter()
        _convert(path, staging)
        marker = {
            "source": str(path.resolve()),
            "source_sha256": file_sha256(path),
            "source_size": path.stat().st_size,
            "gguf_architecture": metadata["architecture"],
            "gguf_name": metadata["name"],
            "converted_in_s": round(time.perf_counter() - started, 2),
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (staging / CACHE_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(path: Path, dest: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    kwargs = {"gguf_file": path.name, "local_files_only": True}
    # transformers draws its own tqdm bar while dequantizing; the CLI shows a status instead.
    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path.parent, dtype="float32", **kwargs)
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()
    # The weights are already dequantized to float32 here; drop the GGUF quantizer marker so
    # transformers saves them as an ordinary safetensors checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)


def _publish(staging: Path, target: Path) -> None:
    try:
        os.rename(staging, target)
    except OSError:
        # Another process finished the same conversion first; its cache is equally valid.
        if not is_complete_cache(target):
            shutil.rmtree(target, ignore_errors=True)
            os.rename(staging, target)


def _field_text(reader: Any, key: str) -> str | None:
    field = reader.fields.get(key)
    if field is None or not field.data:
        return None
    return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")


def _slug(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text.lower())
    return cleaned.strip("-.")[:60] or "model"
