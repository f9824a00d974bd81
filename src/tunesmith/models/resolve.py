"""Turn what the user typed (a name, a path, a hub id) into a model folder on this disk.

Nothing here opens a network connection: hub ids are looked up only in the local Hugging Face
cache, and every transformers call passes local_files_only=True.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tunesmith.errors import ModelNotFoundError
from tunesmith.models.gguf_cache import GGUF_MAGIC, cache_folder_for, ensure_gguf_cache
from tunesmith.models.registry import EMBEDDED_MODELS, find_embedded, locate_embedded_file
from tunesmith.models.safety import check_model_folder

SourceKind = Literal["embedded", "gguf", "folder", "hub-cache"]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, before any conversion."""

    name: str
    kind: SourceKind
    path: Path

    @property
    def is_gguf(self) -> bool:
        return self.kind in ("embedded", "gguf")

    def cache_folder(self) -> Path | None:
        """Where the converted folder of a GGUF source lives (whether or not it exists yet)."""
        return cache_folder_for(self.path, self.name) if self.is_gguf else None


def resolve_source(name: str) -> ModelSource:
    """Find the model called `name` on this machine, or say where we looked."""
    text = str(name).strip()
    if not text:
        raise ModelNotFoundError("empty model name", hint="see `tunesmith models list`")
    embedded = find_embedded(text)
    if embedded is not None:
        path = locate_embedded_file(embedded)
        if path is None:
            raise ModelNotFoundError(
                f"the embedded model {embedded.name!r} is not installed "
                f"(looked for {embedded.filename} in the Python package {embedded.distribution})",
                hint=embedded.install_hint(),
            )
        return ModelSource(embedded.name, "embedded", path)
    path = Path(text).expanduser()
    if path.exists():
        return _source_from_path(text, path)
    if HUB_ID.match(text):
        folder = _hub_cache_folder(text)
        if folder is not None:
            return ModelSource(text, "hub-cache", folder)
    raise ModelNotFoundError(_not_found_message(text, path), hint=_not_found_hint())


def model_folder(source: ModelSource, *, trust_remote_code: bool = False) -> Path:
    """A checked Hugging Face folder for the source, converting a GGUF file on first use."""
    folder = ensure_gguf_cache(source.path, source.name) if source.is_gguf else source.path
    check_model_folder(folder, trust_remote_code=trust_remote_code)
    return folder


def _source_from_path(text: str, path: Path) -> ModelSource:
    if path.is_dir():
        return ModelSource(text, "folder", path.resolve())
    if path.suffix.lower() == ".gguf" or _starts_with_gguf_magic(path):
        return ModelSource(path.stem, "gguf", path.resolve())
    # Let the folder checks explain that a file is not a model folder.
    return ModelSource(text, "folder", path.resolve())


def _starts_with_gguf_magic(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _hub_cache_folder(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=_hub_cache_dir()))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _not_found_message(text: str, path: Path) -> str:
    return (
        f"model {text!r} not found: it is not a registered name "
        f"({', '.join(EMBEDDED_MODELS)}), not a path ({path.resolve()} does not exist), "
        f"and not a hub id in the local Hugging Face cache ({_hub_cache_dir()})"
    )


def _not_found_hint() -> str:
    return (
        "pass a local folder with config.json and *.safetensors, a .gguf file, or a hub id "
        "already downloaded on a connected machine and copied into the Hugging Face cache; "
        "tunesmith never downloads"
    )
