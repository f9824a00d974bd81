"""Specialization experiments: which recipe teaches a company's facts without forgetting.

    python benchmarks/specialization.py                                  # every recipe
    python benchmarks/specialization.py --recipes default,lr2e-3 --general-limit 500
    python benchmarks/specialization.py --dataset bitext --recipes default

For each recipe: train with `tunesmith train` (a subprocess, timed), then `tunesmith eval` the
run on the held-out evaluation set and on ARC-Easy, PIQA and LAMBADA from the shared data
folder (deterministic subsamples of --general-limit items; the base model is scored with the
same items, once, and every delta is tuned minus base). Prints and writes a Markdown table and
the raw JSON under --out. With key facts, "first note" is the share of them in the first note
each held-out question is shown: the recall of a model that copied its first note, the yardstick
for how well the model reads its notes (session 21).

Datasets: `northpeak` (the sample company: key facts, glossary, out-of-scope questions) and
`bitext` (the real customer-support set in the shared data folder: a seeded training sample and
a disjoint held-out sample; it has no key facts, so answer loss and similarity are what count).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NORTHPEAK = REPO / "examples" / "northpeak"
BITEXT = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
GENERAL = ("arc_easy/arc_easy.jsonl", "piqa/piqa.jsonl", "lambada_openai/lambada_openai.jsonl")

# Each recipe is a list of config overrides on top of `tunesmith train` defaults.
RECIPES: dict[str, list[str]] = {
    "default": [],
    "issue-baseline": [
        "method.name=lora",
        "train.lr=1e-3",
        "train.epochs=5",
        "data.augment=false",
    ],
    "augment-lr1e-3": [
        "method.name=lora",
        "train.lr=1e-3",
        "train.epochs=1",
        "data.augment=true",
    ],
    "freeze10-lr2e-4": [
        "method.name=freeze",
        "method.freeze.trainable_layers=10",
        "train.lr=2e-4",
        "train.epochs=5",
    ],
    "freeze10-lr2e-4-e8": [
        "method.name=freeze",
        "method.freeze.trainable_layers=10",
        "train.lr=2e-4",
        "train.epochs=8",
    ],
    # On top of the default (freeze the last third, lr 1e-3, 5 epochs) since session 4.
    "lr2e-3": ["train.lr=2e-3"],
    # Session 13's self-replay learnt the sampled tokens (the only targets then).
    "replay20": ["train.replay.share=0.2", "train.replay.targets=tokens"],
    "neftune5": ["train.neftune_alpha=5"],
    # The default before answer notes (session 8).
    "no-notes": ["data.notes.enabled=false"],
    # Session 9, with notes and the flash attention kernel (steps ~2x faster than session 8).
    "epochs5": ["train.epochs=5"],
    "freeze6": ["method.freeze.trainable_layers=6"],
    # Session 10: less forgetting for the same recall, now that facts come from the notes.
    "lr5e-4": ["train.lr=5e-4"],
    "epochs2": ["train.epochs=2"],
    "freeze6-lr2e-3": ["method.freeze.trainable_layers=6", "train.lr=2e-3"],
    "lora": ["method.name=lora"],
    "lora-lr1e-3": ["method.name=lora", "train.lr=1e-3"],
    "full-lr5e-5": ["method.name=full", "train.lr=5e-5"],
    "notes6": ["data.notes.count=6", "data.notes.max_chars=1800"],
    "seed1": ["train.seed=1"],
    # Session 11 (CPU only): LoRA in fewer passes, for a step count that fits the time goal.
    "lora-lr1e-3-epochs2": ["method.name=lora", "train.lr=1e-3", "train.epochs=2"],
    "lora-lr1e-3-seed1": ["method.name=lora", "train.lr=1e-3", "train.seed=1"],
    # Session 14: general questions outside the data's scope, answered with its own redirects
    # (the default since session 18).
    "oos": ["data.out_of_scope.enabled=true"],
    # Session 15: full fine-tuning at twice the rate, once its steps got 1.7x cheaper.
    "full-lr1e-4": ["method.name=full", "train.lr=1e-4"],
    # Session 18: out-of-scope examples are on by default; this is the default without them.
    "no-oos": ["data.out_of_scope.enabled=false"],
    # Session 19: self-replay learning the base model's distribution (KL), not its samples.
    "replay-kl20": ["train.replay.share=0.2"],
    "replay-kl10": ["train.replay.share=0.1"],
    "replay-kl30": ["train.replay.share=0.3"],
    "replay-long": ["train.replay.max_tokens=256"],
    # Session 21: training notes in answer order are the default; this is the order before.
    "question-order": ["data.notes.train_order=question"],
}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    shared = Path(os.environ.get("TUNESMITH_SHARED_DATA", REPO.parent / "shared" / "data"))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tunesmith-spec-") as folder:
        work = args.keep or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        config = _dataset_config(args, shared, work)
        for name in args.recipes.split(","):
            overrides = RECIPES.get(name)
            if overrides is None:
                raise SystemExit(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
            for row in _run_recipe(name, overrides + args.set, config, shared, args, work):
                rows.append(row)
                print(json.dumps(row), flush=True)
    stem = out / f"{args.dataset}-{time.strftime('%Y-%m-%d-%H%M')}"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown(rows)
    stem.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("northpeak", "bitext"), default="northpeak")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--set", action="append", default=[], help="Extra override for all.")
    parser.add_argument("--general-limit", type=int, default=500, help="Items per benchmark.")
    parser.add_argument(
        "--rerank-weights",
        default="",
        help="Also evaluate each run with these note re-ranking weights (comma-separated; the "
        "general benchmarks do not use notes, so their scores are reused).",
    )
    parser.add_argument("--bitext-train", type=int, default=300)
    parser.add_argument("--bitext-eval", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="Folder to keep the run folders (and their eval.json) in; a temporary one "
        "removed at the end by default.",
    )
    return parser.parse_args(argv)


def _dataset_config(args: argparse.Namespace, shared: Path, work: Path) -> Path:
    if args.dataset == "northpeak":
        data = {"train": str(NORTHPEAK / "train.jsonl"), "eval": str(NORTHPEAK / "eval.jsonl"),
                "glossary": str(NORTHPEAK / "glossary.yaml")}  # fmt: skip
    else:
        data = _bitext_files(shared, work, args.bitext_train, args.bitext_eval)
    path = work / "config.yaml"
    path.write_text(json.dumps({"data": data}))  # JSON is YAML
    return path


def _bitext_files(shared: Path, work: Path, train: int, held: int) -> dict[str, str]:
    with (shared / BITEXT).open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    random.Random(0).shuffle(records)
    files = {}
    for name, chunk in (("train", records[:train]), ("eval", records[train : train + held])):
        path = work / f"bitext-{name}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for record in chunk:
                messages = [{"role": "user", "content": record["instruction"]},
                            {"role": "assistant", "content": record["response"]}]  # fmt: skip
                handle.write(json.dumps({"messages": messages}) + "\n")
        files[name] = str(path)
    return files


def _run_recipe(name, overrides, config, shared, args, work) -> list[dict[str, Any]]:
    run = work / "runs" / name
    sets = [item for override in overrides for item in ("--set", override)]
    started = time.perf_counter()
    record = _tunesmith(["train", str(config), "-o", str(run), "-q", "--json", *sets])
    train_seconds = time.perf_counter() - started
    general = [item for path in GENERAL for item in ("--general", str(shared / path))]
    result = _tunesmith(["eval", str(run), "--limit", str(args.general_limit), "--json", *general])
    rows = [_row(name, overrides, record, train_seconds, result)]
    eval_file = json.loads(config.read_text())["data"]["eval"]
    rows[0]["first_note_recall"] = first_note_recall(run, Path(eval_file))
    for weight in filter(None, args.rerank_weights.split(",")):
        again = _tunesmith(["eval", str(run), "--no-general", "--rerank-weight", weight, "--json"])
        again.update({k: result.get(k) for k in ("general", "base_general")})
        rows.append(_row(f"{name}, rerank {weight}", overrides, record, train_seconds, again))
    return rows


def first_note_recall(run: Path, eval_file: Path) -> float | None:
    """Share of the in-scope held-out key facts found in the first note each question is
    shown at inference (None without notes or key facts)."""
    from tunesmith.data.notes import load_notes
    from tunesmith.eval.domain import load_eval_items
    from tunesmith.eval.metrics import facts_found

    index = load_notes(run / "final")
    items = [i for i in load_eval_items(eval_file) if not i.out_of_scope and i.key_facts]
    if index is None or not items:
        return None
    firsts = index.closest([item.question for item in items])
    found = [
        hit
        for item, notes in zip(items, firsts, strict=True)
        for hit in facts_found(notes[0] if notes else "", item.key_facts)
    ]
    return sum(found) / len(found)


def _tunesmith(arguments: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "tunesmith.cli.main", *arguments]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tunesmith {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _row(name, overrides, record, train_seconds, result) -> dict[str, Any]:
    domain = result.get("domain") or {}
    tuned = (result.get("general") or {}).get("benchmarks", {})
    base = (result.get("base_general") or {}).get("benchmarks", {})
    keys = ("key_fact_recall", "all_facts_accuracy", "similarity", "val_loss", "stop_rate",
            "banned_term_rate", "sign_off_rate", "redirect_rate")  # fmt: skip
    return {
        "recipe": name,
        "overrides": overrides,
        "method": record.get("method"),
        "steps": record.get("steps"),
        "train_items": record.get("data", {}).get("train_items"),
        "train_seconds": round(train_seconds, 1),
        "loop_seconds": record.get("wall_seconds"),
        "notes_rerank_weight": result.get("notes_rerank_weight"),
        **{key: domain.get(key) for key in keys},
        **{f"base_{key}": (result.get("base_domain") or {}).get(key) for key in keys},
        "general": tuned,
        "base_general": base,
        "general_delta": {k: round(tuned[k] - base[k], 4) for k in tuned if k in base},
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per recipe: facts, voice, forgetting and time."""
    head = ("| recipe | steps | train s | key-fact recall | first note | all facts "
            "| similarity | answer loss | stop | banned | OOS redirect | ARC-E Δ | PIQA Δ "
            "| LAMBADA Δ |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        forgetting = r["general_delta"]
        lines.append(
            f"| {r['recipe']} | {r['steps']} | {r['train_seconds']:.0f} "
            f"| {_pct(r['key_fact_recall'])} | {_pct(r.get('first_note_recall'))} "
            f"| {_pct(r['all_facts_accuracy'])} "
            f"| {_num(r['similarity'])} | {_num(r['val_loss'])} | {_pct(r['stop_rate'])} "
            f"| {_pct(r['banned_term_rate'])} | {_pct(r['redirect_rate'])} "
            f"| {_delta(forgetting, 'arc_easy')} | {_delta(forgetting, 'piqa')} "
            f"| {_delta(forgetting, 'lambada_openai')} |"
        )
    return "\n".join(lines)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _delta(forgetting: dict[str, Any], bench: str) -> str:
    value = forgetting.get(bench)
    return "n/a" if value is None else f"{100 * value:+.1f}"


if __name__ == "__main__":
    sys.exit(main())
