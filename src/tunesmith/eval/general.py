"""General skills and forgetting: benchmark scoring by log-likelihood, the lm-eval way.

Every benchmark item becomes (context, continuation) pairs. A pair's score is the sum of the
log-probabilities of the continuation's tokens given the context (natural log, float32):

- multiple choice: `acc` picks the choice with the highest sum; `acc_norm` divides each sum by
  the choice's length in characters first (lm-eval's `acc_norm`), which removes the bias
  towards short answers;
- LAMBADA: `acc` is the share of items whose continuation is exactly the greedy prediction,
  token for token; `perplexity` is exp(-mean summed log-likelihood), as lm-eval reports it;
- text: token-level perplexity over sliding windows.

Tokenization follows lm-eval: trailing whitespace of the context moves to the continuation,
context + continuation is encoded whole and split at the context's own token count.

Speed on a CPU: pairs are grouped into rows, sorted by length and right-padded into batches;
one forward pass per batch, no KV cache, and log-probabilities only at continuation positions.
The choices of a multiple-choice item share their context in one row ("context sharing"):
each choice attends to the context and to itself only, through a 4D attention mask and its own
position ids, which computes exactly what separate rows would with the context run once.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from tunesmith.errors import TunesmithError, UsageError
from tunesmith.eval.benchmarks import (
    BenchmarkSpec,
    ChoiceItem,
    CompletionItem,
    Item,
    TextItem,
    read_benchmark,
)

SHARED_DATA_ENV = "TUNESMITH_SHARED_DATA"
DEFAULT_MAX_LENGTH = 2048
PERPLEXITY_WINDOW = 1024
PERPLEXITY_STRIDE = 512
# One forward pass holds (rows x longest row) positions of logits over the whole vocabulary:
# 2,048 positions of a 49k vocabulary is 400 MB of float32, so batches stop there.
MAX_BATCH_TOKENS = 2048
# Attention implementations that honour a custom 4D mask; others score each pair separately.
MASKED_ATTENTION = ("sdpa", "eager")

Request = tuple[list[int], list[int]]  # (context token ids, continuation token ids)

# ---------------------------------------------------------------------------------------------
# Benchmark suites


# name: (file under the shared data folder, llm-foundry delimiter, primary metric or None)
SHARED_BENCHMARKS: dict[str, tuple[str, str, str | None]] = {
    "arc_easy": ("arc_easy/arc_easy.jsonl", "\nAnswer: ", "acc"),
    "arc_challenge": ("arc_challenge/arc_challenge.jsonl", "\nAnswer: ", "acc_norm"),
    "piqa": ("piqa/piqa.jsonl", "\nAnswer: ", "acc_norm"),
    "openbookqa": ("openbookqa/openbook_qa.jsonl", " ", "acc_norm"),
    "lambada_openai": ("lambada_openai/lambada_openai.jsonl", " ", None),
    "winogrande": ("winogrande/winogrande.jsonl", " ", None),
    "copa": ("copa/copa.jsonl", " ", "acc"),
    "truthfulqa_mc1": ("truthfulqa_mc/validation.json", " ", None),
}
DEFAULT_SHARED = ("arc_easy", "piqa", "openbookqa", "lambada_openai")


def shared_data_dir() -> Path | None:
    """The shared benchmark folder: $TUNESMITH_SHARED_DATA, else `<repo>/../shared/data`.

    None when neither exists (an installed package has no repository around it).
    """
    configured = os.environ.get(SHARED_DATA_ENV)
    if configured:
        folder = Path(configured).expanduser()
        if not folder.is_dir():
            raise UsageError(
                f"{SHARED_DATA_ENV}={configured}: not a folder",
                hint="point it at the shared benchmark data, or unset it",
            )
        return folder
    repo = Path(__file__).resolve().parents[3]  # src/tunesmith/eval/general.py
    candidate = repo.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def shared_suite(
    names: Sequence[str] | None = None, data_dir: Path | None = None
) -> list[BenchmarkSpec]:
    """Specs for benchmarks of the shared data folder (all of them by default)."""
    folder = data_dir or shared_data_dir()
    if folder is None:
        raise UsageError(
            "the shared benchmark data folder was not found",
            hint=f"set {SHARED_DATA_ENV} to the folder that holds arc_easy/, piqa/, ...",
        )
    specs = []
    for name in names or SHARED_BENCHMARKS:
        if name not in SHARED_BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}", hint=f"use {list(SHARED_BENCHMARKS)}")
        relative, delimiter, metric = SHARED_BENCHMARKS[name]
        specs.append(BenchmarkSpec(name, folder / relative, delimiter=delimiter, metric=metric))
    return specs


def suite_from_files(paths: Sequence[Path]) -> list[BenchmarkSpec]:
    """Specs for benchmark files, named after the file; formats are detected when read.

    A file named like a shared benchmark (`arc_easy.jsonl`, `piqa.jsonl`, ...) gets that
    benchmark's delimiter and metric, so a copy of it scores the same as the original.
    """
    known = {Path(relative).name: name for name, (relative, _, _) in SHARED_BENCHMARKS.items()}
    specs: list[BenchmarkSpec] = []
    for path in map(Path, paths):
        name = known.get(path.name, path.stem)
        unique, number = name, 1
        while unique in {spec.name for spec in specs}:  # two files with the same name
            number += 1
            unique = f"{name}_{number}"
        if name in SHARED_BENCHMARKS:
            _, delimiter, metric = SHARED_BENCHMARKS[name]
            specs.append(BenchmarkSpec(unique, path, delimiter=delimiter, metric=metric))
        else:
            specs.append(BenchmarkSpec(unique, path))
    return specs


def probe_suite() -> list[BenchmarkSpec]:
    """The probe set shipped with tunesmith: 200+ multiple-choice items and a text."""
    folder = Path(str(resources.files("tunesmith") / "resources" / "probes"))
    return [
        BenchmarkSpec("general_probes", folder / "general_probes.jsonl", format="plain_mc"),
        BenchmarkSpec("general_text", folder / "general_text.md", format="text"),
    ]


def default_suite() -> list[BenchmarkSpec]:
    """ARC-Easy, PIQA, OpenBookQA and LAMBADA from the shared data, else the bundled probes."""
    folder = shared_data_dir()
    if folder is not None:
        specs = shared_suite(DEFAULT_SHARED, folder)
        if all(spec.path.is_file() for spec in specs):
            return specs
    return probe_suite()


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class BenchmarkResult:
    """Scores on one benchmark. `stderr` is acc's standard error, sqrt(p(1-p)/(n-1))."""

    name: str
    format: str
    metric: str  # the primary metric, the one `forgetting` compares
    n: int  # items scored (tokens, for text perplexity)
    total: int  # items in the file
    acc: float | None = None
    stderr: float | None = None
    acc_norm: float | None = None
    acc_norm_stderr: float | None = None
    perplexity: float | None = None
    seconds: float = 0.0

    @property
    def value(self) -> float:
        """The primary metric's value."""
        return getattr(self, self.metric)

    @property
    def value_stderr(self) -> float | None:
        """The primary metric's standard error (None for perplexity)."""
        return {"acc": self.stderr, "acc_norm": self.acc_norm_stderr}.get(self.metric)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "value": self.value}


@dataclass
class GeneralReport:
    """Scores on every benchmark of a suite."""

    benchmarks: list[BenchmarkResult]
    limit: int | None = None
    seed: int = 0
    seconds: float = 0.0

    def get(self, name: str) -> BenchmarkResult | None:
        return next((result for result in self.benchmarks if result.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "seed": self.seed,
            "seconds": self.seconds,
            "benchmarks": [result.to_dict() for result in self.benchmarks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneralReport:
        known = {f.name for f in fields(BenchmarkResult)}
        results = [
            BenchmarkResult(**{k: v for k, v in item.items() if k in known})
            for item in data["benchmarks"]
        ]
        return cls(results, data.get("limit"), data.get("seed", 0), data.get("seconds", 0.0))


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_general(
    model: Any,
    tokenizer: Any,
    *,
    suite: Sequence[BenchmarkSpec] | None = None,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
    progress: Callable[[BenchmarkResult], None] | None = None,
) -> GeneralReport:
    """Score a loaded model (plain or PEFT) on a suite; `default_suite()` when None.

    `limit` scores a subsample of that many items per benchmark, chosen by `seed` alone, so the
    base and the tuned model see the same items. `progress` is called after each benchmark.
    """
    specs = default_suite() if suite is None else list(suite)
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise UsageError(f"benchmark names repeat in the suite: {names}")
    start = time.perf_counter()
    results = []
    for spec in specs:
        result = evaluate_benchmark(
            model, tokenizer, spec, limit=limit, seed=seed, batch_size=batch_size
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return GeneralReport(results, limit, seed, time.perf_counter() - start)


def evaluate_benchmark(
    model: Any,
    tokenizer: Any,
    spec: BenchmarkSpec,
    *,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
) -> BenchmarkResult:
    """Score one benchmark file."""
    start = time.perf_counter()
    benchmark = read_benchmark(spec)
    items = benchmark.items
    if benchmark.format != "text":  # a text is one document: nothing to subsample
        items = [items[i] for i in subsample(len(items), limit, seed)]
    result = BenchmarkResult(
        benchmark.name, benchmark.format, benchmark.metric, len(items), len(benchmark.items)
    )
    score = {ChoiceItem: _score_choices, CompletionItem: _score_completions, TextItem: _score_text}
    score[type(items[0])](model, tokenizer, items, batch_size, result)
    result.seconds = time.perf_counter() - start
    return result


def subsample(count: int, limit: int | None, seed: int) -> list[int]:
    """Indices of `limit` items out of `count`, in file order, chosen by `seed` alone.

    A seeded permutation's prefix, so a smaller limit picks a subset of a larger one.
    """
    if limit is None or limit >= count:
        return list(range(count))
    if limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return sorted(order[:limit])


def _score_choices(
    model: Any, tokenizer: Any, items: list[Item], batch_size: int, result: BenchmarkResult
) -> None:
    pairs = [pair for item in items for pair in item.pairs]
    scores = score_pairs(model, tokenizer, pairs, batch_size=batch_size)
    raw, norm, start = [], [], 0
    for item in items:
        logprobs = [s.logprob for s in scores[start : start + len(item.pairs)]]
        start += len(item.pairs)
        raw.append(choice_credit(logprobs, item.gold))
        normed = [
            lp / max(length, 1) for lp, length in zip(logprobs, item.norm_lengths, strict=True)
        ]
        norm.append(choice_credit(normed, item.gold))
    result.acc, result.stderr = mean_stderr(raw)
    # Partial scoring shares one continuation across options: normalising changes nothing.
    if result.format != "foundry_schema":
        result.acc_norm, result.acc_norm_stderr = mean_stderr(norm)


def _score_completions(
    model: Any, tokenizer: Any, items: list[Item], batch_size: int, result: BenchmarkResult
) -> None:
    pairs = [(item.context, item.continuation) for item in items]
    scores = score_pairs(model, tokenizer, pairs, batch_size=batch_size)
    result.acc, result.stderr = mean_stderr([float(s.greedy) for s in scores])
    result.perplexity = math.exp(-sum(s.logprob for s in scores) / len(scores))


def _score_text(
    model: Any, tokenizer: Any, items: list[Item], batch_size: int, result: BenchmarkResult
) -> None:
    window = min(PERPLEXITY_WINDOW, _max_length(model, None))
    stride = min(PERPLEXITY_STRIDE, window // 2)
    prefix = _prefix_token(tokenizer)
    requests = [
        request
        for item in items
        for request in text_windows(_encode(tokenizer, [item.text])[0], prefix, window, stride)
    ]
    scores = score_requests(model, requests, batch_size=batch_size, pad_id=_pad_id(tokenizer))
    tokens = sum(s.tokens for s in scores)
    result.n = tokens
    result.perplexity = math.exp(-sum(s.logprob for s in scores) / tokens)


def choice_credit(values: Sequence[float], gold: int) -> float:
    """1 when gold has the best value; 1/k when it ties with k-1 others for best; else 0.

    Splitting ties keeps the score independent of where the right answer is listed (argmax
    would credit the first of equal scores, and TruthfulQA lists the true answer first).
    """
    best = max(values)
    winners = [i for i, value in enumerate(values) if value == best]
    return 1.0 / len(winners) if gold in winners else 0.0


def mean_stderr(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and its standard error (sample std / sqrt(n); sqrt(p(1-p)/(n-1)) for 0/1)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def text_windows(
    tokens: list[int],
    prefix: int,
    window: int = PERPLEXITY_WINDOW,
    stride: int = PERPLEXITY_STRIDE,
) -> list[Request]:
    """Requests that score every token once, each with up to `window - stride` tokens before it.

    The first window starts from the prefix token (as lm-eval does), so the first token counts.
    """
    if not 0 < stride < window:
        raise UsageError(f"the stride ({stride}) must be between 0 and the window ({window})")
    first = tokens[: window - 1]
    requests = [([prefix], first)] if first else []
    for start in range(len(first), len(tokens), stride):
        requests.append(
            (tokens[max(0, start - (window - stride)) : start], tokens[start : start + stride])
        )
    return requests


# ---------------------------------------------------------------------------------------------
# Forgetting


def forgetting(base: GeneralReport, tuned: GeneralReport) -> dict[str, Any]:
    """Per-benchmark and mean drop from base to tuned; a positive drop means the model got worse.

    Accuracies: drop = base - tuned, relative = drop / base. Perplexity: drop = tuned - base
    (higher is worse), relative likewise; perplexities stay out of the means (other scale).
    `stderr` is that of the difference, sqrt(se_base² + se_tuned²).
    """
    per_benchmark: dict[str, dict[str, Any]] = {}
    for before in base.benchmarks:
        after = tuned.get(before.name)
        if after is None:
            continue
        if after.n != before.n or after.metric != before.metric:
            raise UsageError(
                f"{before.name}: the reports scored different items or metrics "
                f"(n {before.n} vs {after.n}, {before.metric} vs {after.metric})",
                hint="evaluate both models with the same suite, limit and seed",
            )
        per_benchmark[before.name] = _drop(before, after)
    accuracy = [d for d in per_benchmark.values() if d["metric"] != "perplexity"]
    relative = [d["relative_drop"] for d in accuracy if d["relative_drop"] is not None]
    return {
        "benchmarks": per_benchmark,
        "mean_drop": _mean([d["drop"] for d in accuracy]),
        "mean_relative_drop": _mean(relative),
        "not_compared": sorted(
            {r.name for r in base.benchmarks} ^ {r.name for r in tuned.benchmarks}
        ),
    }


def _drop(before: BenchmarkResult, after: BenchmarkResult) -> dict[str, Any]:
    base, tuned = before.value, after.value
    drop = tuned - base if before.metric == "perplexity" else base - tuned
    errors = (before.value_stderr, after.value_stderr)
    stderr = None if None in errors else math.sqrt(errors[0] ** 2 + errors[1] ** 2)
    return {
        "metric": before.metric,
        "n": before.n,
        "base": base,
        "tuned": tuned,
        "drop": drop,
        "relative_drop": drop / base if base else None,
        "stderr": stderr,
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


# ---------------------------------------------------------------------------------------------
# Scoring engine


@dataclass(frozen=True)
class Score:
    """A continuation's log-likelihood given its context."""

    logprob: float  # sum over the continuation's tokens, natural log
    greedy: bool  # every continuation token is the model's most likely next token
    tokens: int


@dataclass
class _Row:
    """One sequence of a batch: a context followed by one or more continuations."""

    tokens: list[int]
    context: int  # length of the context at the start of `tokens`
    # (request index, start in `tokens`, length) of each continuation
    segments: list[tuple[int, int, int]] = field(default_factory=list)


def encode_pair(tokenizer: Any, context: str, continuation: str) -> Request:
    """Token ids of a context and its continuation, split the way lm-eval splits them."""
    return encode_pairs(tokenizer, [(context, continuation)])[0]


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]]) -> list[Request]:
    """lm-eval's split: trailing whitespace of the context moves to the continuation; the
    continuation's ids are what encoding context + continuation adds after the context's ids.
    An empty context becomes the prefix token (BOS, else EOS)."""
    moved = [_move_space(context, continuation) for context, continuation in pairs]
    contexts = _encode(tokenizer, [context for context, _ in moved])
    wholes = _encode(tokenizer, [context + continuation for context, continuation in moved])
    requests = []
    for (context, continuation), ctx, whole in zip(moved, contexts, wholes, strict=True):
        cont = whole[len(ctx) :]
        if not context:
            ctx, cont = [_prefix_token(tokenizer)], whole
        if not cont:  # the split merged everything into the context's tokens
            cont = _encode(tokenizer, [continuation])[0]
        requests.append((ctx, cont))
    return requests


def score_pairs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 32,
    share_context: bool = True,
) -> list[Score]:
    """Score (context, continuation) text pairs; see `score_requests`."""
    requests = encode_pairs(tokenizer, pairs)
    return score_requests(
        model,
        requests,
        batch_size=batch_size,
        pad_id=_pad_id(tokenizer),
        share_context=share_context,
    )


def score_requests(
    model: Any,
    requests: Sequence[Request],
    *,
    batch_size: int = 32,
    pad_id: int = 0,
    share_context: bool = True,
    max_length: int | None = None,
) -> list[Score]:
    """Log-likelihood of each continuation given its context, in input order.

    Requests with the same context share one row when `share_context` is on and the model's
    attention honours a 4D mask; every row fits `max_length` tokens (the model's limit, at
    most 2,048) by dropping context from the left, as lm-eval does.
    """
    limit = _max_length(model, max_length)
    share = share_context and _supports_masks(model)
    rows = sorted(_rows(requests, limit, share), key=lambda row: -len(row.tokens))
    scores: list[Score | None] = [None] * len(requests)
    with _evaluating(model):
        for batch in _batches(rows, batch_size):
            for index, score in _score_batch(model, batch, pad_id).items():
                scores[index] = score
    assert all(score is not None for score in scores)  # every request sits in exactly one row
    return scores  # type: ignore[return-value]


def _rows(requests: Sequence[Request], limit: int, share: bool) -> list[_Row]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (context, continuation) in enumerate(requests):
        if not continuation:
            raise TunesmithError("a continuation has no tokens to score")
        key = tuple(context) if share else (index,)
        groups.setdefault(key, []).append(index)
    rows = []
    for members in groups.values():
        context = list(requests[members[0]][0])
        total = len(context) + sum(len(requests[i][1]) for i in members)
        if len(members) > 1 and total <= limit:
            row = _Row(context, len(context))
            for index in members:
                continuation = requests[index][1]
                row.segments.append((index, len(row.tokens), len(continuation)))
                row.tokens.extend(continuation)
            rows.append(row)
        else:
            rows.extend(_single_row(requests[i], i, limit) for i in members)
    return rows


def _single_row(request: Request, index: int, limit: int) -> _Row:
    context, continuation = request
    if len(continuation) >= limit:
        raise TunesmithError(
            f"a continuation of {len(continuation)} tokens does not fit the {limit}-token window"
        )
    context = list(context)[-(limit - len(continuation)) :]  # keep the end of the context
    return _Row(
        context + list(continuation), len(context), [(index, len(context), len(continuation))]
    )


def _batches(rows: list[_Row], batch_size: int) -> Iterator[list[_Row]]:
    """Consecutive rows (longest first), at most batch_size rows and MAX_BATCH_TOKENS padded."""
    batch: list[_Row] = []
    for row in rows:
        longest = len(batch[0].tokens) if batch else len(row.tokens)
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * longest > MAX_BATCH_TOKENS):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def _score_batch(model: Any, rows: list[_Row], pad_id: int) -> dict[int, Score]:
    import torch

    length = max(len(row.tokens) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    where, targets, owners = [], [], []  # per continuation token: (row, position predicting it)
    for b, row in enumerate(rows):
        ids[b, : len(row.tokens)] = torch.tensor(row.tokens)
        for index, start, count in row.segments:
            for t in range(count):
                # The first token is predicted at the context's last position, the rest at
                # the previous continuation token.
                where.append((b, row.context - 1 if t == 0 else start + t - 1))
                targets.append(row.tokens[start + t])
                owners.append(index)
    first = min(position for _, position in where)
    extra = _tree_inputs(rows, length, _dtype(model)) if _is_shared(rows) else {}
    logits = _forward(model, ids, length - first, extra)
    offset = length - logits.shape[1]  # logits cover only the last positions
    batch_index = torch.tensor([b for b, _ in where])
    positions = torch.tensor([p - offset for _, p in where])
    picked = logits[batch_index.to(logits.device), positions.to(logits.device)].float().cpu()
    target = torch.tensor(targets)
    # log_softmax gathered at the targets, without materialising the full log_softmax.
    logprobs = picked.gather(1, target[:, None]).squeeze(1) - torch.logsumexp(picked, dim=-1)
    hits = picked.argmax(dim=-1) == target
    return _collect(owners, logprobs.tolist(), hits.tolist())


def _collect(owners: list[int], logprobs: list[float], hits: list[bool]) -> dict[int, Score]:
    sums: dict[int, list[Any]] = {}
    for owner, logprob, hit in zip(owners, logprobs, hits, strict=True):
        total = sums.setdefault(owner, [0.0, True, 0])
        total[0] += logprob
        total[1] = total[1] and hit
        total[2] += 1
    return {owner: Score(lp, greedy, count) for owner, (lp, greedy, count) in sums.items()}


def _is_shared(rows: list[_Row]) -> bool:
    return any(len(row.segments) > 1 for row in rows)


def _tree_inputs(rows: list[_Row], length: int, dtype: Any) -> dict[str, Any]:
    """A 4D additive mask and position ids: each continuation sees the context and itself.

    Padding positions see themselves only, so no softmax row is empty (that would give NaN).
    """
    import torch

    segment = torch.full((len(rows), length), -1, dtype=torch.long)
    position = torch.zeros((len(rows), length), dtype=torch.long)
    for b, row in enumerate(rows):
        segment[b, : row.context] = 0
        position[b, : row.context] = torch.arange(row.context)
        for number, (_, start, count) in enumerate(row.segments, start=1):
            segment[b, start : start + count] = number
            position[b, start : start + count] = torch.arange(row.context, row.context + count)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    same = segment[:, :, None] == segment[:, None, :]
    context_key = (segment == 0)[:, None, :]
    real = (segment >= 0)[:, :, None]
    allowed = causal & (same | context_key) & real
    allowed |= torch.eye(length, dtype=torch.bool)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return {"attention_mask": mask[:, None], "position_ids": position}


def _forward(model: Any, ids: Any, keep: int, extra: dict[str, Any]) -> Any:
    """Logits of the last `keep` positions (all positions for models that ignore that)."""
    import torch

    device = _device(model)
    inputs = {"input_ids": ids.to(device), **{k: v.to(device) for k, v in extra.items()}}
    with torch.inference_mode():
        try:
            return model(**inputs, use_cache=False, logits_to_keep=keep).logits
        except TypeError:  # a model without `logits_to_keep`
            return model(**inputs, use_cache=False).logits


@contextmanager
def _evaluating(model: Any) -> Iterator[None]:
    """Eval mode (no dropout, LoRA dropout included) for the duration, then as it was."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _supports_masks(model: Any) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) in MASKED_ATTENTION


def _max_length(model: Any, max_length: int | None) -> int:
    limit = max_length or DEFAULT_MAX_LENGTH
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return min(limit, positions) if isinstance(positions, int) else limit


def _device(model: Any) -> Any:
    device = getattr(model, "device", None)
    return device if device is not None else next(model.parameters()).device


def _dtype(model: Any) -> Any:
    return model.get_input_embeddings().weight.dtype


def _encode(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    # No special tokens: lm-eval's default for causal models, and the chat template is not
    # used either; these are plain-text completions.
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def _move_space(context: str, continuation: str) -> tuple[str, str]:
    spaces = len(context) - len(context.rstrip())
    if spaces:
        return context[:-spaces], context[-spaces:] + continuation
    return context, continuation


def _prefix_token(tokenizer: Any) -> int:
    if tokenizer.bos_token_id is not None:
        return tokenizer.bos_token_id
    return tokenizer.eos_token_id


def _pad_id(tokenizer: Any) -> int:
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return token_id
    return 0
