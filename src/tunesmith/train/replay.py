"""Self-replay: the base model's own samples mixed into training, against forgetting.

Fine-tuning on one narrow domain pulls the model away from everything else it could do; plain
next-word prediction (LAMBADA) suffers most (docs/specialization.md). Mixing in text the base
model samples from its own distribution, before any training, pulls it back without any
outside data: the gradient of its own samples' loss is zero in expectation at the base
weights, so it only resists drift. The samples start from the model's document separator, so
they are the plain text it learnt in pre-training rather than chat.

With `targets: distribution` (the default) the samples teach the base model's whole
next-token distribution at each position (its `top_k` most likely tokens, the rest as one
outcome) instead of the one token it happened to sample: the loss is the KL divergence from the
base model, zero with a zero gradient at the base weights, so replay pulls back only where the
weights drifted, without the sampled tokens' noise (the `tokens` targets cost 11.8 points of
key-fact recall in session 13, docs/specialization.md).

Samples are generated once per base model and settings, and cached under
`TUNESMITH_HOME/replay/` as token ids (JSON), so a resumed or repeated run reuses them; the
base model's distributions on them next to it (safetensors).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tunesmith.config import ReplayConfig
from tunesmith.data.types import IGNORE_INDEX, SoftTargets, TokenizedExample
from tunesmith.home import tunesmith_home
from tunesmith.models.loader import stop_token_ids
from tunesmith.models.scoring import evaluating

# Bump when the sampling rules change, so old cached samples are not reused.
REPLAY_VERSION = 1
GENERATION_BATCH = 32
# The full logits of a batch are rows x length x vocabulary floats: 8 samples of 129 tokens
# over a 49k vocabulary are 200 MB (32 were 800 MB, and no faster: 13 s for 85 samples).
DISTRIBUTION_BATCH = 8
# GPT-2-style document separator used in pre-training by SmolLM, Qwen, GPT-NeoX and others.
DOCUMENT_SEPARATORS = ("<|endoftext|>", "<|begin_of_text|>")


def replay_count(config: ReplayConfig, user_examples: int) -> int:
    """How many replay samples make `config.share` of the mixed training examples."""
    if config.share <= 0 or user_examples < 1:
        return 0
    return max(1, math.ceil(user_examples * config.share / (1.0 - config.share)))


def replay_examples(
    model: Any,
    tokenizer: Any,
    config: ReplayConfig,
    *,
    count: int,
    seed: int,
    model_sha256: str,
    precision_context: Any = None,
    max_length: int | None = None,
) -> list[TokenizedExample]:
    """`count` samples of the model's own text as training examples (every token trained),
    each cut to `max_length` tokens (with its targets) when given."""
    if count < 1:
        return []
    start = start_token_id(tokenizer)
    identity = {
        "version": REPLAY_VERSION,
        "model_sha256": model_sha256,
        "start": start,
        "count": count,
        "seed": seed,
        "max_tokens": config.max_tokens,
        "temperature": config.temperature,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    path = replay_dir() / f"{key}.json"
    samples = _load(path)
    if samples is None:
        samples = sample_texts(model, tokenizer, config, count, seed, start, precision_context)
        _write(path, {**identity, "samples": samples})
    targets: list[SoftTargets | None] = [None] * len(samples)
    if config.targets == "distribution":
        targets_path = path.with_name(f"{key}-top{config.top_k}.safetensors")
        targets = _load_targets(targets_path, samples)
        if targets is None:
            targets = base_distributions(model, samples, config.top_k, precision_context)
            _write_targets(targets_path, targets)
    return [
        _as_example(ids, soft, index, max_length)
        for index, (ids, soft) in enumerate(zip(samples, targets, strict=True))
    ]


def replay_dir() -> Path:
    """Where generated replay samples are cached."""
    return tunesmith_home() / "replay"


def start_token_id(tokenizer: Any) -> int:
    """The token a pre-training document starts after: a separator, else bos, else eos."""
    vocab = tokenizer.get_vocab()
    for token in DOCUMENT_SEPARATORS:
        if token in vocab:
            return int(vocab[token])
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return int(token_id)
    raise ValueError("the tokenizer has no document separator, bos or eos token to start from")


def sample_texts(
    model: Any,
    tokenizer: Any,
    config: ReplayConfig,
    count: int,
    seed: int,
    start: int,
    precision_context: Any = None,
) -> list[list[int]]:
    """Token ids of `count` seeded samples, each the start token then up to max_tokens."""
    stops = [*stop_token_ids(model, tokenizer), start]  # a new document ends the sample
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    samples: list[list[int]] = []
    try:
        for first in range(0, count, GENERATION_BATCH):
            size = min(GENERATION_BATCH, count - first)
            ids = torch.full((size, 1), start, dtype=torch.long, device=model.device)
            with (
                evaluating(model),
                torch.inference_mode(),
                precision_context or contextlib.nullcontext(),
            ):
                output = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    do_sample=True,
                    temperature=config.temperature,
                    top_p=1.0,
                    top_k=0,
                    max_new_tokens=config.max_tokens,
                    eos_token_id=stops,
                    pad_token_id=stops[0],
                )
            samples.extend(_trim(row, stops) for row in output.tolist())
    finally:
        torch.random.set_rng_state(generator_state)
    return samples


def base_distributions(
    model: Any, samples: list[list[int]], top_k: int, precision_context: Any = None
) -> list[SoftTargets]:
    """The model's `top_k` next-token probabilities at every position of each sample."""
    targets: list[SoftTargets] = []
    for first in range(0, len(samples), DISTRIBUTION_BATCH):
        batch = samples[first : first + DISTRIBUTION_BATCH]
        width = max(len(ids) for ids in batch)
        ids = torch.tensor([row + [row[-1]] * (width - len(row)) for row in batch])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in batch])
        with (
            evaluating(model),
            torch.inference_mode(),
            precision_context or contextlib.nullcontext(),
        ):
            logits = model(
                input_ids=ids.to(model.device), attention_mask=mask.to(model.device)
            ).logits
        probs, top = torch.softmax(logits.float(), dim=-1).topk(top_k, dim=-1)
        for row, sample in enumerate(batch):
            length = len(sample) - 1  # no target after the last token
            targets.append(SoftTargets(top[row, :length].int().cpu(), probs[row, :length].cpu()))
    return targets


def _load_targets(path: Path, samples: list[list[int]]) -> list[SoftTargets] | None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except (OSError, SafetensorError):
        return None
    targets = []
    for index, sample in enumerate(samples):
        ids, probs = tensors.get(f"{index}.ids"), tensors.get(f"{index}.probs")
        if ids is None or probs is None or ids.shape[0] != len(sample) - 1:
            return None
        targets.append(SoftTargets(ids, probs))
    return targets


def _write_targets(path: Path, targets: list[SoftTargets]) -> None:
    from safetensors.torch import save_file

    tensors = {}
    for index, soft in enumerate(targets):
        tensors[f"{index}.ids"] = soft.ids.contiguous()
        tensors[f"{index}.probs"] = soft.probs.contiguous()
    _replace(path, lambda temporary: save_file(tensors, temporary))


def _trim(row: list[int], stops: list[int]) -> list[int]:
    """The sample up to and including its first stop token (padding after it dropped)."""
    for index, token in enumerate(row[1:], start=1):
        if token in stops:
            return row[: index + 1]
    return row


def _as_example(
    ids: list[int], soft: SoftTargets | None, index: int, max_length: int | None
) -> TokenizedExample:
    ids = ids[:max_length]  # a packed row holds whole examples, so a long sample is cut to fit
    if soft is not None:
        soft = SoftTargets(soft.ids[: len(ids) - 1], soft.probs[: len(ids) - 1])
    labels = [IGNORE_INDEX, *ids[1:]]
    return TokenizedExample(ids, labels, source="replay", line=index + 1, soft_targets=soft)


def _load(path: Path) -> list[list[int]] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["samples"]
    except (OSError, ValueError, KeyError):
        return None


def _write(path: Path, payload: dict[str, Any]) -> None:
    _replace(path, lambda temporary: temporary.write_text(json.dumps(payload), encoding="utf-8"))


def _replace(path: Path, write: Callable[[Path], Any]) -> None:
    """Write under a temporary name, then rename: a half-written file is never read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    write(temporary)
    os.replace(temporary, path)
