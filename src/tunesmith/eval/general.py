"""General skills and forgetting: benchmark scoring by log-likelihood, the lm-eval way.

Every benchmark item becomes (context, continuation) pairs. A pair's score is the sum of the
log-probabilities of the continuation's tokens given the context (natural log, float32):

- multiple choice: `acc` picks the choice with the highest sum; `acc_norm` divides each sum by
  the choice's length in characters first (lm-eval's `acc_norm`), which removes the bias
  towards short answers;
- LAMBADA: `acc` is the share of items whose continuation is exactly the greedy prediction,
  token for token; `perplexity` is exp(-mean summed log-likelihood), as lm-eval reports it;
- text: token-level perplexity over sliding windows.

The scoring itself (lm-eval's tokenization split, batching, context sharing between the
choices of an item) is `tunesmith.models.scoring`.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from tunesmith.errors import UsageError
from tunesmith.eval.benchmarks import (
    BenchmarkSpec,
    ChoiceItem,
    CompletionItem,
    Item,
    TextItem,
    read_benchmark,
)
from tunesmith.models.scoring import (
    Request,
    encode_texts,
    model_max_length,
    pad_token_id,
    prefix_token,
    score_pairs,
    score_requests,
)

SHARED_DATA_ENV = "TUNESMITH_SHARED_DATA"
PERPLEXITY_WINDOW = 1024
PERPLEXITY_STRIDE = 512

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
    window = min(PERPLEXITY_WINDOW, model_max_length(model, None))
    stride = min(PERPLEXITY_STRIDE, window // 2)
    prefix = prefix_token(tokenizer)
    requests = [
        request
        for item in items
        for request in text_windows(encode_texts(tokenizer, [item.text])[0], prefix, window, stride)
    ]
    scores = score_requests(model, requests, batch_size=batch_size, pad_id=pad_token_id(tokenizer))
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
