"""Training throughput: tunesmith against the standard transformers Trainer (+ PEFT) recipe.

    python benchmarks/train_throughput.py                      # default model, both datasets
    python benchmarks/train_throughput.py --steps 20 --datasets northpeak
    python benchmarks/train_throughput.py --model PATH --data FILE --steps 2 --mfu-steps 1
    python benchmarks/train_throughput.py --device cuda           # every variant on the GPU

One invocation measures, one after another on the same machine:

- `trainer-lora`: transformers `Trainer` + PEFT LoRA, as a user would write it: dynamic padding
  per batch (`DataCollatorForSeq2Seq`), labels masked to the answers, `bf16=True` where the
  hardware supports it, PEFT's defaults apart from the rank, alpha and targets tunesmith uses;
- `tunesmith-lora`, `tunesmith-freeze`, `tunesmith-full`: `tunesmith.train.train` with defaults;
- `tunesmith-lora-compile`: the same with `train.compile=on` (regional torch.compile, off by
  default); compiling happens inside its step clock, and `first_step_seconds` shows it;
- `trainer-full`: the Trainer with full fine-tuning, for the full-method ratio.

Every variant sees the same model, the same tokenized examples (tunesmith's own preparation and
train/validation split), the same examples per optimizer step, the same number of steps and the
same warm-up + cosine schedule at the same peak learning rate (per method). Each runs in its own
process; peak resident memory is that process's `ru_maxrss`, read by this parent with `wait4`.

`--device cpu` (the default) hides any GPU from the workers (`CUDA_VISIBLE_DEVICES=`), so the
CPU figures stay CPU figures on a GPU machine; `--device cuda` runs every variant on GPU 0.

Reported per variant: wall time of the optimizer steps (model loading excluded for both: the
Trainer's `train_runtime`, tunesmith's step clock), real (non-padding) tokens per second, the
final validation loss (one function, `tunesmith.train.loop._validate`, for every variant),
peak GPU memory on CUDA (`torch.cuda.max_memory_allocated`, read by the worker; the memory ratio
uses it there), and model FLOPs utilisation (MFU) against the bf16 (or fp32) matrix-multiply
peak measured at the start of the same run:

    FLOPs per token = 2 * N_frozen_no_grad + 4 * N_frozen_input_grad + 6 * N_trained
                      (+ the output head at trained positions only, for tunesmith's loss)

N counts the weights of matrix multiplies (embedding lookups excluded); weights below the lowest
trained one need no input gradient (2x), frozen weights above it do (4x), trained ones 6x.
Attention score FLOPs are left out, so MFU is slightly understated. The microbenchmark `mfu`
trains LoRA on uniform rows (4 x 256 tokens, every position trained) to measure MFU without
packing or padding effects.

Writes `benchmarks/results/<date>.json` and `.md` (or --out DIR) and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "smollm2-135m-instruct"
BITEXT = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
VARIANTS = ("trainer-lora", "tunesmith-lora", "tunesmith-lora-compile", "tunesmith-freeze",
            "tunesmith-full", "trainer-full")  # fmt: skip
LORA = {"r": 16, "alpha": 32}
LEARNING_RATES = {"lora": 2e-4, "freeze": 5e-5, "full": 2e-5}
WARMUP_RATIO = 0.05


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.worker:
        spec = json.loads(args.spec)
        result = WORKERS[args.worker](spec)
        from tunesmith.allocator import active_allocator, allocator_options

        result["allocator"] = active_allocator()  # what this process really runs with
        result["allocator_options"] = allocator_options()
        print("RESULT " + json.dumps(result))
        return 0
    return _orchestrate(args)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Model name or folder.")
    parser.add_argument("--datasets", default="northpeak,bitext", help="northpeak, bitext.")
    parser.add_argument("--data", type=Path, help="Use this chat file instead of --datasets.")
    parser.add_argument("--bitext-rows", type=int, default=600, help="Bitext rows used.")
    parser.add_argument("--steps", type=int, default=30, help="Optimizer steps per variant.")
    parser.add_argument("--batch", type=int, default=8, help="Examples per optimizer step.")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--mfu-steps", type=int, default=8, help="0 skips the MFU benchmark.")
    parser.add_argument("--seed", type=int, default=42,
                        help="Seed of every variant's data order and initialisation.")  # fmt: skip
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu (GPUs hidden from the workers) or cuda (GPU 0).")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- orchestration (parent process) --------------------------------------------------------


def _orchestrate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.device == "cuda":
        _require_cuda()
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as folder:
        return _measure(args, Path(folder), started)


def _measure(args: argparse.Namespace, work: Path, started: float) -> int:
    device = args.device
    peak = _child("peak", {"device": device})
    print(f"matmul peak: {json.dumps(peak['peak'])}", flush=True)
    datasets = _datasets(args, work)
    rows = []
    for data_name, data in datasets.items():
        for variant in args.variants.split(","):
            spec = {"variant": variant, "model": args.model, "data": data, "steps": args.steps,
                    "batch": args.batch, "work": str(work / f"{data_name}-{variant}"),
                    "device": device, "seed": args.seed}  # fmt: skip
            result = _child(variant, spec)
            result.update(dataset=data_name, variant=variant)
            result["mfu"] = _mfu(result, peak)
            rows.append(result)
            print(_line(result), flush=True)
    mfu = None
    if args.mfu_steps:
        spec = {"model": args.model, "steps": args.mfu_steps, "rows": 4, "length": 256,
                "device": device}  # fmt: skip
        mfu = _child("mfu", spec)
        mfu["mfu"] = _mfu(mfu, peak)
        print(f"mfu microbenchmark: {json.dumps(mfu)}", flush=True)
    report = {
        "date": dt.date.today().isoformat(),
        "command": "python benchmarks/train_throughput.py " + " ".join(sys.argv[1:]),
        "machine": _machine(device),
        "device": device,
        "peak": peak["peak"],
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "results": rows,
        "ratios": _ratios(rows),
        "mfu_microbenchmark": mfu,
        "seconds": round(time.perf_counter() - started, 1),
    }
    _write(report, args.out)
    print(markdown(report))
    return 0


def _child(worker: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh process; its peak RSS comes from wait4, not from itself."""
    from tunesmith.allocator import mimalloc_library, preload_env

    command = [sys.executable, __file__, "--worker", worker, "--spec", json.dumps(spec)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if spec.get("device", "cpu") == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # tunesmith trains on a GPU whenever it sees one
    if worker.startswith("tunesmith") or worker == "mfu":
        env.setdefault("GOMP_SPINCOUNT", "10000")  # what the tunesmith CLI sets
        # ...and the allocator it preloads (tunesmith.allocator); the Trainer keeps glibc's.
        env = preload_env(env, mimalloc_library()) or env
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code != 0:
        raise SystemExit(f"{worker} failed (exit {code}):\n{stderr[-4000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[-1][len("RESULT ") :])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
    return result


def _require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible here; use --device cpu")


def _datasets(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    if args.data:
        return {args.data.stem: {"train": str(args.data)}}
    out: dict[str, dict[str, Any]] = {}
    for name in args.datasets.split(","):
        if name == "northpeak":
            out[name] = {"train": str(REPO / "examples" / "northpeak" / "train.jsonl")}
        elif name == "bitext":
            out[name] = {"train": str(_bitext_subset(args.bitext_rows, work)),
                         "question_column": "instruction", "answer_column": "response"}  # fmt: skip
        else:
            raise SystemExit(f"--datasets: unknown {name!r} (northpeak, bitext)")
    return out


def _bitext_subset(rows: int, work: Path) -> Path:
    """A seeded sample of the customer-support CSV (answers of real, varied lengths)."""
    shared = Path(os.environ.get("TUNESMITH_SHARED_DATA", REPO.parent / "shared" / "data"))
    source = shared / BITEXT
    if not source.is_file():
        raise SystemExit(f"{source} not found; set TUNESMITH_SHARED_DATA or use --datasets")
    with source.open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    random.Random(0).shuffle(records)
    path = work / "bitext.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["instruction", "response"])
        writer.writeheader()
        for record in records[:rows]:
            writer.writerow({"instruction": record["instruction"], "response": record["response"]})
    return path


def _mfu(result: dict[str, Any], peak: dict[str, Any]) -> float | None:
    flops = result.get("flops")
    seconds = result.get("seconds")
    reference = peak["peak"].get(result.get("precision", "fp32"))
    if not flops or not seconds or not reference:
        return None
    return round(flops / seconds / (reference * 1e9), 4)


def _ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by = {(r["dataset"], r["variant"]): r for r in rows}
    for data in sorted({r["dataset"] for r in rows}):
        pairs = {"lora_speedup": ("trainer-lora", "tunesmith-lora"),
                 "lora_compile_speedup": ("trainer-lora", "tunesmith-lora-compile"),
                 "full_speedup": ("trainer-full", "tunesmith-full")}  # fmt: skip
        for name, (base, ours) in pairs.items():
            if (data, base) in by and (data, ours) in by:
                out[f"{data}.{name}"] = round(
                    by[data, base]["seconds"] / by[data, ours]["seconds"], 2
                )
        if (data, "trainer-lora") in by and (data, "tunesmith-lora") in by:
            base, ours = by[data, "trainer-lora"], by[data, "tunesmith-lora"]
            # On a GPU the memory that limits a run is the GPU's, not the host's.
            key = "peak_gpu_mb" if base.get("peak_gpu_mb") else "peak_rss_mb"
            if base.get(key) and ours.get(key):
                out[f"{data}.lora_memory"] = round(ours[key] / base[key], 2)
            out[f"{data}.lora_val_loss_delta"] = round(ours["val_loss"] - base["val_loss"], 4)
    return out


def _machine(device: str = "cpu") -> dict[str, Any]:
    import psutil

    gpu = {}
    if device == "cuda":
        import torch

        gpu = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
               "cuda": torch.version.cuda}  # fmt: skip
    return {
        **gpu,
        "cpu": platform.processor() or platform.machine(),
        "model_name": _cpu_name(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
    }


def _cpu_name() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _line(r: dict[str, Any]) -> str:
    return (f"{r['dataset']:>10} {r['variant']:<17} {r['seconds']:>8.1f} s "
            f"{r['tokens_per_second']:>8.1f} tok/s  peak {r['peak_rss_mb']} MB  "
            f"gpu {r.get('peak_gpu_mb')} MB  "
            f"val {r['val_loss']:.4f}  mfu {r['mfu']}")  # fmt: skip


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown table plus the ratios."""
    lines = [
        "| dataset | variant | precision | allocator | steps | seconds | first step s "
        "| real tokens/s | peak RSS MB | peak GPU MB | val loss | MFU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "n/a"
        lines.append(
            f"| {r['dataset']} | {r['variant']} | {r['precision']} "
            f"| {r.get('allocator', 'system')} | {r['steps']} "
            f"| {r['seconds']:.1f} | {r.get('first_step_seconds') or 'n/a'} "
            f"| {r['tokens_per_second']:.0f} | {r['peak_rss_mb']} "
            f"| {r.get('peak_gpu_mb') or 'n/a'} | {r['val_loss']:.4f} | {mfu} |"
        )
    lines.append("")
    for name, value in report["ratios"].items():
        lines.append(f"- {name}: {value}")
    mfu = report.get("mfu_microbenchmark")
    if mfu:
        lines.append(
            f"- MFU microbenchmark (LoRA, {mfu['rows']} x {mfu['length']} tokens, "
            f"{mfu['precision']}): {mfu['mfu']:.1%} of the measured "
            f"{report['peak'][mfu['precision']]:.0f} GFLOP/s peak "
            f"({mfu['tokens_per_second']:.0f} tokens/s)"
        )
    return "\n".join(lines)


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / report["date"]
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report) + "\n")
    print(f"wrote {stem.with_suffix('.json')} and {stem.with_suffix('.md')}", flush=True)


# --- workers (child processes) -------------------------------------------------------------


def _peak_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Best matrix-multiply rate (GFLOP/s) in fp32 and, where supported, bf16."""
    import torch

    from tunesmith.train.precision import bf16_supported

    _threads()
    device = torch.device(spec.get("device", "cpu"))
    # A GPU needs larger products than a CPU to reach its peak.
    size = 8192 if device.type == "cuda" else 2048
    peak = {"fp32": _matmul_rate(torch.float32, device, size)}
    if bf16_supported(device):
        peak["bf16"] = _matmul_rate(torch.bfloat16, device, size)
    return {"peak": peak, "threads": torch.get_num_threads()}


def _matmul_rate(dtype: Any, device: Any, size: int, repeats: int = 10) -> float:
    import torch

    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        _synchronize(device)
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        _synchronize(device)
        seconds = time.perf_counter() - started
        best = max(best, 2 * size**3 * repeats / seconds / 1e9)
    return round(best, 1)


def _synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gpu_mb(device: str) -> float | None:
    import torch

    if device != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated() / 1024**2, 1)


def _threads() -> None:
    import psutil
    import torch

    torch.set_num_threads(psutil.cpu_count(logical=False) or torch.get_num_threads())


def _config(spec: dict[str, Any], method: str, compile: str = "off") -> Any:
    from tunesmith.config import TunesmithConfig

    return TunesmithConfig.model_validate(
        {
            "model": {"name": spec["model"]},
            # No augmentation and no answer notes: every variant, the Trainer's included, must
            # train on exactly the same examples.
            "data": {
                **spec["data"],
                "max_length": 1024,
                "overlong": "drop",
                "augment": False,
                "notes": {"enabled": False},
            },
            "method": {"name": method, "lora": LORA},
            "train": {
                "max_steps": spec["steps"],
                "batch_size": spec["batch"],
                "lr": LEARNING_RATES[method],
                "warmup_ratio": WARMUP_RATIO,
                "schedule": "cosine",
                "eval_every": spec["steps"],
                "save_every": 10**6,
                "compile": compile,
                "seed": spec.get("seed", 42),
            },
            "output": {"dir": spec["work"]},
        }
    )


def _tunesmith_worker(spec: dict[str, Any]) -> dict[str, Any]:
    from tunesmith.train.loop import train

    method = spec["variant"].split("-")[1]
    config = _config(spec, method, "on" if spec["variant"].endswith("-compile") else "off")
    events: list[dict[str, Any]] = []
    train(config, Path(spec["work"]) / "run", on_event=events.append)
    start = next(e for e in events if e["event"] == "start")
    steps = [e for e in events if e["event"] == "step"]
    val = [e["val_loss"] for e in events if e["event"] == "eval"]
    tokens = sum(e["tokens"] for e in steps)
    seconds = steps[-1]["elapsed"]
    flops = _flops_per_token(spec, method) * tokens
    return {"steps": len(steps), "seconds": seconds, "tokens": tokens,
            "tokens_per_second": round(tokens / seconds, 1), "val_loss": val[-1],
            "precision": start["precision"], "flops": flops,
            "trainable_parameters": start["trainable_parameters"],
            "first_step_seconds": steps[0]["elapsed"], "compile": start["compile"]["enabled"],
            "peak_gpu_mb": _peak_gpu_mb(spec["device"])}  # fmt: skip


def _trainer_worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from tunesmith.train.loop import _prepare
    from tunesmith.train.precision import bf16_supported

    _threads()
    method = spec["variant"].split("-", 1)[1]
    config = _config(spec, method)
    model, tokenizer, loaded = _plain_model(config)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], target_modules="all-linear",
                       task_type="CAUSAL_LM"),
        )  # fmt: skip
    dataset = _prepare(config, loaded)
    features = [{"input_ids": e.input_ids, "labels": e.labels,
                 "attention_mask": [1] * len(e.input_ids)} for e in dataset.train]  # fmt: skip
    counter = _CountingCollator(DataCollatorForSeq2Seq(tokenizer, padding=True))
    device = spec["device"]
    bf16 = bf16_supported(torch.device(device))
    arguments = TrainingArguments(
        output_dir=spec["work"],
        per_device_train_batch_size=spec["batch"],
        max_steps=spec["steps"],
        learning_rate=LEARNING_RATES[method],
        lr_scheduler_type="cosine",
        warmup_steps=_warmup_steps(spec["steps"]),
        weight_decay=0.0,
        max_grad_norm=1.0,
        bf16=bf16,
        use_cpu=device == "cpu",
        save_strategy="no",
        eval_strategy="no",
        logging_steps=spec["steps"],
        report_to="none",
        seed=spec.get("seed", 42),
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=features, data_collator=counter)
    output = trainer.train()
    seconds = float(output.metrics["train_runtime"])
    val_loss = _validation_loss(trainer.model, dataset, config, "bf16" if bf16 else "fp32", device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    flops = _flops_per_token(spec, method, head_at_all_positions=True) * counter.real_tokens
    return {"steps": int(output.global_step), "seconds": round(seconds, 2),
            "tokens": counter.real_tokens, "padded_tokens": counter.padded_tokens,
            "tokens_per_second": round(counter.real_tokens / seconds, 1), "val_loss": val_loss,
            "precision": "bf16" if bf16 else "fp32", "flops": flops,
            "trainable_parameters": trainable, "peak_gpu_mb": _peak_gpu_mb(device)}  # fmt: skip


class _CountingCollator:
    """Counts real and padded tokens of the batches the Trainer actually trains on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.real_tokens = 0
        self.padded_tokens = 0

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        batch = self.inner(features)
        self.real_tokens += int(batch["attention_mask"].sum())
        self.padded_tokens += int(batch["attention_mask"].numel())
        return batch


def _warmup_steps(steps: int) -> int:
    return math.ceil(WARMUP_RATIO * steps)  # tunesmith's rule, so both schedules match


def _plain_model(config: Any) -> tuple[Any, Any, Any]:
    """The model as a user would load it: fp32 weights from the same local folder."""
    from transformers import AutoModelForCausalLM

    from tunesmith.models import load_model

    loaded = load_model(config.model)
    model = AutoModelForCausalLM.from_pretrained(loaded.folder, dtype="float32")
    return model, loaded.tokenizer, loaded


def _validation_loss(
    model: Any, dataset: Any, config: Any, precision: str, device: str = "cpu"
) -> float:
    """tunesmith's validation function, so every variant's loss is measured the same way."""
    import torch

    from tunesmith.train.distributed import DistContext
    from tunesmith.train.loop import LossModule, _validate

    context = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device(device))
    train_cfg = config.train.model_copy(update={"precision": precision})
    module = LossModule(model)
    return _validate(context, module, dataset.validation, train_cfg, dataset.seq_len)


def _mfu_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """LoRA on uniform rows (every position trained): FLOPs per second, no packing effects."""
    import torch

    from tunesmith.config import LoraConfig, MethodConfig, ModelConfig, TrainConfig
    from tunesmith.methods import apply_method
    from tunesmith.models import load_model
    from tunesmith.train.loss import summed_token_loss
    from tunesmith.train.optim import build_optimizer
    from tunesmith.train.precision import autocast, cast_frozen_weights, resolve_precision

    _threads()
    loaded = load_model(ModelConfig(name=spec["model"]))
    setup = apply_method(loaded.model, MethodConfig(name="lora", lora=LoraConfig(**LORA)))
    device = torch.device(spec.get("device", "cpu"))
    setup.model.to(device)
    precision = resolve_precision("auto", device)
    cast_frozen_weights(setup.model, precision)
    params = [p for p in setup.model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, TrainConfig(), 2e-4)
    generator = torch.Generator().manual_seed(0)
    vocab = loaded.model.config.vocab_size
    ids = torch.randint(0, vocab, (spec["rows"], spec["length"]), generator=generator).to(device)
    batch = {"input_ids": ids, "labels": ids}
    setup.model.train()

    def step() -> None:
        with autocast(precision, device):
            loss, tokens = summed_token_loss(setup.model, batch)
        (loss / tokens).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: allocations and kernel selection
    _synchronize(device)
    started = time.perf_counter()
    for _ in range(spec["steps"]):
        step()
    _synchronize(device)
    seconds = time.perf_counter() - started
    tokens = spec["rows"] * spec["length"] * spec["steps"]
    flops = _flops_per_token({"model": spec["model"]}, "lora") * tokens
    return {"steps": spec["steps"], "rows": spec["rows"], "length": spec["length"],
            "seconds": round(seconds, 3), "tokens_per_second": round(tokens / seconds, 1),
            "precision": precision, "flops": flops,
            "peak_gpu_mb": _peak_gpu_mb(device.type)}  # fmt: skip


def _flops_per_token(spec: dict[str, Any], method: str, head_at_all_positions: bool = False) -> int:
    """2/4/6 x weights of matrix multiplies, by whether they need input and weight gradients.

    The output head runs at every position in the Trainer (full logits) but only at trained
    positions in tunesmith; both are counted at every position here, which overstates
    tunesmith's work slightly and so understates nothing in its favour.
    """
    counts = _matmul_weight_counts(spec["model"])
    blocks, head, layers = counts["blocks"], counts["head"], counts["layers"]
    if method == "full":
        return 6 * (blocks + head)
    if method == "lora":
        lora = counts["lora"]
        return 4 * (blocks + head) + 6 * lora
    # freeze: the last 2 blocks train (6x); blocks below need no gradient at all (2x).
    trained = blocks * 2 // layers
    return 2 * (blocks - trained) + 6 * trained + 4 * head


def _matmul_weight_counts(model_name: str) -> dict[str, int]:
    from transformers import AutoConfig

    from tunesmith.models.resolve import model_folder, resolve_source

    folder = model_folder(resolve_source(model_name))
    config = AutoConfig.from_pretrained(folder)
    hidden, inter = config.hidden_size, config.intermediate_size
    heads, kv = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    attention = hidden * head_dim * (2 * heads + 2 * kv)
    mlp = 3 * hidden * inter
    layers = config.num_hidden_layers
    r = LORA["r"]
    lora_attention = r * (hidden + heads * head_dim) * 2 + r * (hidden + kv * head_dim) * 2
    lora_mlp = r * (hidden + inter) * 3
    return {
        "blocks": layers * (attention + mlp),
        "head": hidden * config.vocab_size,
        "layers": layers,
        "lora": layers * (lora_attention + lora_mlp),
    }


WORKERS = {
    "peak": _peak_worker,
    "mfu": _mfu_worker,
    "trainer-lora": _trainer_worker,
    "trainer-full": _trainer_worker,
    "tunesmith-lora": _tunesmith_worker,
    "tunesmith-lora-compile": _tunesmith_worker,
    "tunesmith-freeze": _tunesmith_worker,
    "tunesmith-full": _tunesmith_worker,
}


if __name__ == "__main__":
    sys.exit(main())
