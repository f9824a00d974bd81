"""Load test of `tunesmith serve` against plain transformers `generate`, one request at a time.

    python benchmarks/serve_load.py                         # default model, 1/4/8 concurrent
    python benchmarks/serve_load.py --requests 16 --max-tokens 64 --concurrency 1,4,8 --json

Starts the real server (uvicorn, loopback only, free port) on the default model, sends a fixed
number of streamed chat requests at each concurrency level, and reports completion tokens per
second, time to first token and latency percentiles. The baseline loads the same model and
answers the same prompts with `model.generate` one by one (greedy, same token cap), which is
what a naive server would do. Everything is bounded: a fixed request count, a per-request
timeout, and no traffic beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

QUESTIONS = [
    "What is the capital of France?",
    "Give me three tips for a first hike in the mountains.",
    "Explain in two sentences what a return policy is.",
    "How do I reset a forgotten password?",
    "Write a short thank-you note to a customer.",
    "What should I pack for a rainy weekend trip?",
    "Summarise why backups matter for a small business.",
    "What is the difference between a tent and a tarp?",
]


@dataclass
class Result:
    ttft: float  # seconds until the first piece of text
    latency: float  # seconds until the last byte
    tokens: int  # completion tokens reported in usage
    text: str


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # one process: the server and baseline share it
    prompts = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.requests)]
    report = {
        "model": args.model,
        "requests": args.requests,
        "max_tokens": args.max_tokens,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    report["server"] = _server_runs(args, prompts)
    report["baseline"] = _baseline(args, prompts)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--requests", type=int, default=16, help="requests per level")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", default="1,4,8", help="comma-separated levels")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default, per core)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per request, seconds")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in args.concurrency.split(",")]
    return args


def _server_runs(args: argparse.Namespace, prompts: list[str]) -> list[dict]:
    import httpx

    from tunesmith.serve import BackgroundServer, ModelRegistry, ServerSettings, create_app

    registry = ModelRegistry(args.model, max_batch=args.max_batch, max_queue=4 * args.requests)
    name = registry.base_name
    rows = []
    try:
        with (
            BackgroundServer(create_app(registry, ServerSettings())) as server,
            httpx.Client(base_url=server.url, timeout=args.timeout) as http,
        ):
            _request(http, name, prompts[0], 4)  # warm-up: first-call costs are not load
            for level in args.levels:
                started = time.perf_counter()
                with ThreadPoolExecutor(level) as pool:
                    results = list(
                        pool.map(lambda p: _request(http, name, p, args.max_tokens), prompts)
                    )
                wall = time.perf_counter() - started
                rows.append(_summary(f"server, {level} concurrent", results, wall, level))
    finally:
        registry.close()
    return rows


def _request(http, model: str, prompt: str, max_tokens: int) -> Result:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    ttft, tokens, text = None, 0, ""
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk["choices"]:
                piece = choice["delta"].get("content")
                if piece and ttft is None:
                    ttft = time.perf_counter() - started
                text += piece or ""
    latency = time.perf_counter() - started
    return Result(ttft if ttft is not None else latency, latency, tokens, text)


def _baseline(args: argparse.Namespace, prompts: list[str]) -> dict:
    """Plain transformers: render, tokenize, `generate` one request at a time, greedy."""
    import torch

    from tunesmith.eval.generation import render_prompt, stop_token_ids
    from tunesmith.models import load_model

    loaded = load_model(args.model)
    model, tokenizer = loaded.model, loaded.tokenizer
    stops = stop_token_ids(model, tokenizer)

    def one(prompt: str, max_tokens: int) -> Result:
        started = time.perf_counter()
        text = render_prompt(tokenizer, [{"role": "user", "content": prompt}])
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **ids,
                max_new_tokens=max_tokens,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        latency = time.perf_counter() - started
        answer = tokenizer.decode(new, skip_special_tokens=True)
        return Result(latency, latency, len(new), answer)  # no streaming: first token = last

    one(prompts[0], 4)  # warm-up, as for the server
    started = time.perf_counter()
    results = [one(prompt, args.max_tokens) for prompt in prompts]
    return _summary("transformers generate, 1 at a time", results, time.perf_counter() - started, 1)


def _summary(label: str, results: list[Result], wall: float, level: int) -> dict:
    tokens = sum(r.tokens for r in results)
    return {
        "label": label,
        "concurrency": level,
        "requests": len(results),
        "completion_tokens": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "ttft_s": _percentiles([r.ttft for r in results]),
        "latency_s": _percentiles([r.latency for r in results]),
    }


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(q: float) -> float:
        if len(ordered) == 1:
            return round(ordered[0], 3)
        return round(statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1], 3)

    return {"p50": at(50), "p90": at(90), "p99": at(99)}


def _print_table(report: dict) -> None:
    print(
        f"model {report['model']}, {report['requests']} requests per row, "
        f"max_tokens {report['max_tokens']}, greedy, streamed; "
        f"{report['cpus']} CPUs, {report['torch_threads']} torch threads"
    )
    print("| run | tokens/s | TTFT p50 / p90 / p99 (s) | latency p50 / p90 / p99 (s) | wall (s) |")
    print("|---|---|---|---|---|")
    for row in [*report["server"], report["baseline"]]:
        ttft, latency = row["ttft_s"], row["latency_s"]
        print(
            f"| {row['label']} | {row['tokens_per_s']} "
            f"| {ttft['p50']} / {ttft['p90']} / {ttft['p99']} "
            f"| {latency['p50']} / {latency['p90']} / {latency['p99']} | {row['wall_s']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
