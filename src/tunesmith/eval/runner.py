"""Evaluate a run or a model: what it learned (domain) and what it forgot (general), vs its base.

For a run, the base model is evaluated too and the deltas reported. Base scores are cached in
the run registry, keyed by the base model's hash and the evaluation settings, so a base model
is scored once however many runs are compared against it. A LoRA run's base scores come from
the same model with its adapter disabled, so the base is never loaded twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunesmith.errors import UsageError

Status = Callable[[str], None]
# Generation batch: 64 answers per batch doubled decode throughput over 16 on 2 CPU cores.
GENERATION_BATCH = 64


def eval_dtype() -> str:
    """bf16 where the CPU or GPU computes it natively (about 2x faster decoding), else fp32."""
    import torch

    from tunesmith.models import inference_device
    from tunesmith.train.precision import bf16_supported

    return "bfloat16" if bf16_supported(torch.device(inference_device())) else "float32"


def evaluate_target(
    ref: str,
    *,
    domain_path: Path | None = None,
    glossary_path: Path | None = None,
    general_paths: list[Path] | None = None,
    general_limit: int | None = 200,
    skip_general: bool = False,
    with_base: bool = True,
    max_new_tokens: int = 160,
    status: Status | None = None,
    use_notes: bool = True,
    rerank_weight: float | None = None,
    scope_guard: bool = True,
) -> dict[str, Any]:
    """Scores of `ref` (run or model) and, for runs, of its base model and the deltas.

    A run trained with answer notes answers with them unless `use_notes` is off, ranked at the
    run's `data.notes.rerank_weight` unless `rerank_weight` is given; the base model always
    answers without. `scope_guard` off shows every question its closest notes, even one the
    notes' scope guard would decline.
    """
    from tunesmith.models import inference_device
    from tunesmith.train.artifacts import RunModel, load_run_or_model

    say = status or (lambda message: None)
    say(f"loading {ref}")
    dtype = eval_dtype()
    target = load_run_or_model(
        ref,
        device=inference_device(),
        dtype=dtype,
        with_notes=use_notes,
        rerank_weight=rerank_weight,
    )
    run = target if isinstance(target, RunModel) else None
    if run is not None:
        domain_path = domain_path or run.config.data.eval
        glossary_path = glossary_path or run.config.data.glossary
    settings = _settings(domain_path, glossary_path, general_paths, general_limit, skip_general,
                         max_new_tokens)  # fmt: skip
    if domain_path is None and skip_general:
        raise UsageError("nothing to evaluate", hint="give --domain FILE, or drop --no-general")
    result: dict[str, Any] = {"target": ref, "settings": settings}
    if run is not None:
        result.update(run=str(run.run_dir), method=run.method)
    started = time.perf_counter()
    notes = run.notes if run is not None else None
    if notes is not None and not scope_guard:
        notes.guard = None
    result["notes"] = notes.count if notes is not None else None
    result["notes_rerank_weight"] = notes.rerank_weight if notes is not None else None
    result.update(_score(target.model, target.tokenizer, settings, say, label=ref, notes=notes))
    if run is not None and with_base:
        result.update(_base_scores(run, settings, say))
        result.update(_deltas(result))
    result["seconds"] = round(time.perf_counter() - started, 1)
    if run is not None:
        (run.run_dir / "eval.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        _record(run, result)
    return result


def _settings(domain_path, glossary_path, general_paths, limit, skip_general, max_tokens) -> dict:
    return {
        "domain": str(domain_path) if domain_path else None,
        "domain_sha256": _sha(domain_path),
        "glossary": str(glossary_path) if glossary_path else None,
        "glossary_sha256": _sha(glossary_path),
        "general": None if skip_general else [str(p) for p in general_paths or []] or "default",
        "general_limit": limit,
        "max_new_tokens": max_tokens,
        # bf16 greedy answers can depend on the batch shape, so both are part of the cache key.
        "dtype": eval_dtype(),
        "batch_size": GENERATION_BATCH,
    }


def _score(
    model: Any, tokenizer: Any, settings: dict, say: Status, *, label: str, notes: Any = None
) -> dict:
    from tunesmith.eval.domain import evaluate_domain, load_eval_items
    from tunesmith.eval.general import evaluate_general

    scores: dict[str, Any] = {}
    if settings["domain"]:
        say(f"domain evaluation of {label}")
        items = load_eval_items(Path(settings["domain"]))
        report = evaluate_domain(model, tokenizer, items, glossary=_glossary(settings),
                                 max_new_tokens=settings["max_new_tokens"],
                                 batch_size=settings["batch_size"], notes=notes)  # fmt: skip
        scores["domain"] = report.summary()
        scores["domain_items"] = report.to_dict().get("items", [])
        if notes is not None:
            scores["notes_scope_guard"] = report.settings["notes_scope_guard"]
    if settings["general"] is not None:
        say(f"general evaluation of {label}")
        suite = _suite(settings["general"])
        general = evaluate_general(model, tokenizer, suite=suite, limit=settings["general_limit"])
        scores["general"] = _general_summary(general.to_dict())
    return scores


def _base_scores(run: Any, settings: dict, say: Status) -> dict:
    """The base model's scores: from the cache when this base was scored with these settings."""
    from tunesmith.store import RunRegistry

    identity = json.loads((run.run_dir / "run.json").read_text(encoding="utf-8"))["model"]
    key = hashlib.sha256(
        json.dumps({"model": identity.get("sha256"), "settings": settings}, sort_keys=True).encode()
    ).hexdigest()[:24]
    with RunRegistry() as registry:
        cached = [e for e in registry.list_evals() if e.model_key == key and e.kind == "base"]
    if cached:
        say("base model scores: cached")
        return cached[-1].scores
    with _base_model(run) as (model, tokenizer):
        scores = _score(model, tokenizer, settings, say, label="the base model")
    base = {f"base_{name}": value for name, value in scores.items()}
    with RunRegistry() as registry:
        registry.record_eval(model_key=key, kind="base", scores=base)
    return base


@contextlib.contextmanager
def _base_model(run: Any):
    """The base model: the LoRA run's own model with adapters off, else loaded separately."""
    if run.method == "lora":
        with run.model.disable_adapter():
            yield run.model, run.tokenizer
        return
    from tunesmith.models import inference_device, load_model

    config = run.config.model.model_copy(update={"dtype": eval_dtype()})
    loaded = load_model(config, device=inference_device())
    yield loaded.model, loaded.tokenizer


def _deltas(result: dict) -> dict:
    deltas: dict[str, Any] = {}
    if "domain" in result and "base_domain" in result:
        from tunesmith.eval.domain import domain_gain

        deltas["domain_gain"] = domain_gain(result["base_domain"], result["domain"])
    if "general" in result and "base_general" in result:
        tuned, base = result["general"], result["base_general"]
        drop = {name: round(base["benchmarks"][name] - tuned["benchmarks"].get(name, 0.0), 4)
                for name in base["benchmarks"]}  # fmt: skip
        absolute = round(base["score"] - tuned["score"], 4)
        relative = round(absolute / base["score"], 4) if base["score"] else None
        deltas["forgetting"] = {"absolute": absolute, "relative": relative, "benchmarks": drop}
    return deltas


def _general_summary(report: dict) -> dict:
    """Mean primary accuracy over the suite (perplexity-only benchmarks left out), and each."""
    benchmarks = {
        item["name"]: item["value"]
        for item in report["benchmarks"]
        if item["metric"] != "perplexity" and item["value"] is not None
    }
    score = sum(benchmarks.values()) / len(benchmarks) if benchmarks else None
    return {"score": score, "benchmarks": benchmarks, "details": report}


def _suite(general: Any) -> Any:
    from tunesmith.eval.general import default_suite, suite_from_files

    return default_suite() if general == "default" else suite_from_files([Path(p) for p in general])


def _glossary(settings: dict) -> Any:
    if not settings["glossary"]:
        return None
    from tunesmith.eval.glossary import Glossary

    return Glossary.load(Path(settings["glossary"]))


def _record(run: Any, result: dict) -> None:
    from tunesmith.store import RunRegistry, register_run_folder

    with RunRegistry() as registry:
        # Indexes a run folder the registry does not know (copied from another machine, or
        # forgotten) instead of refusing to record its evaluation.
        record = register_run_folder(run.run_dir, registry)
        registry.record_eval(
            model_key=str(run.run_dir), kind="run", scores=result, run_id=record.id
        )


def _sha(path: Path | None) -> str | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise UsageError(f"{path} does not exist", hint="check the path")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
