"""Measure a model's general scores on the shared benchmarks (the table in docs/evaluation.md).

    .venv/bin/python benchmarks/base_scores.py                      # every benchmark, full sets
    .venv/bin/python benchmarks/base_scores.py --limit lambada_openai=1000 --json scores.json
    .venv/bin/python benchmarks/base_scores.py --only arc_easy,piqa --limit 200
    .venv/bin/python benchmarks/base_scores.py --only none --probes   # the bundled probes only

Benchmarks run one after another and each prints its row as it finishes, with its wall time.
The shared data is found at `<repo>/../shared/data` or through $TUNESMITH_SHARED_DATA.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP, as the tunesmith CLI does: idle threads sleep instead of spinning,
# which matters on a machine whose two cores are shared with other jobs.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from tunesmith.eval.general import (
    SHARED_BENCHMARKS,
    BenchmarkResult,
    evaluate_benchmark,
    probe_suite,
    shared_suite,
)
from tunesmith.models import load_model

HEADER = "| benchmark | n | acc | acc_norm | stderr (acc) | perplexity | metric | wall time |"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = _names(args.only)
    limits = _limits(args.limit, names)
    started = time.perf_counter()
    loaded = load_model(args.model)
    print(f"loaded {args.model} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(HEADER + "\n|---|---|---|---|---|---|---|---|", flush=True)
    results = []
    specs = (shared_suite(names) if names else []) + (probe_suite() if args.probes else [])
    for spec in specs:
        result = evaluate_benchmark(
            loaded.model,
            loaded.tokenizer,
            spec,
            limit=limits.get(spec.name),
            seed=args.seed,
            batch_size=args.batch_size,
        )
        results.append(result)
        print(_row(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(_record(args, results), indent=2) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--only", help="comma-separated shared benchmarks, or none (default: all)")
    parser.add_argument("--probes", action="store_true", help="also score the bundled probe set")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        help="N for every benchmark, or NAME=N for one (repeatable); default: full sets",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", help="also write the results and the machine to this file")
    return parser


def _names(only: str | None) -> list[str]:
    if only is None:
        return list(SHARED_BENCHMARKS)
    return [] if only == "none" else only.split(",")


def _limits(values: list[str], names: list[str]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        for target in [name] if name else names:
            limits[target] = int(number)
    return limits


def _row(result: BenchmarkResult) -> str:
    def fmt(value: float | None, digits: int = 3) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    if result.format == "text":
        n = f"{result.n:,} tokens"
    elif result.n == result.total:
        n = f"{result.n:,}"
    else:
        n = f"{result.n:,} of {result.total:,}"
    return (
        f"| {result.name} | {n} | {fmt(result.acc)} | {fmt(result.acc_norm)} | "
        f"{fmt(result.stderr)} | {fmt(result.perplexity, 2)} | {result.metric} | "
        f"{result.seconds:.0f} s |"
    )


def _record(args: argparse.Namespace, results: list[BenchmarkResult]) -> dict[str, Any]:
    import torch

    return {
        "model": args.model,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "results": [result.to_dict() for result in results],
    }


if __name__ == "__main__":
    raise SystemExit(main())
