"""Load what a run produced (its final/ folder) for evaluation, chat, serving and export.

lora   -> the base model plus the PEFT adapter (the adapter can be disabled to get the base
          model's outputs without loading it twice)
freeze -> the base model with the trained tensors loaded over it
full   -> the run's own complete model

A run trained with answer notes (data/notes.py) keeps them in final/notes/; `RunModel.notes`
shows them to every question unless loaded with `with_notes=False`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import ModelConfig, TunesmithConfig
from tunesmith.data.notes import NoteIndex, load_notes
from tunesmith.errors import TunesmithError, UsageError
from tunesmith.models import LoadedModel, load_model


@dataclass
class RunModel:
    """A run's tuned model, ready for inference."""

    run_dir: Path
    method: str
    config: TunesmithConfig
    loaded: LoadedModel
    notes: NoteIndex | None = None  # the training answers shown with each question

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer


def is_run_dir(path: Path | str) -> bool:
    folder = Path(path)
    return (folder / "run.json").is_file() and (folder / "config.yaml").is_file()


def load_run(
    run_dir: Path | str,
    *,
    device: str = "cpu",
    dtype: str = "auto",
    with_notes: bool = True,
    rerank_weight: float | None = None,
) -> RunModel:
    """The tuned model of a finished run, with its answer notes unless `with_notes` is off.

    The notes are re-ranked with the base model's query likelihood at `rerank_weight` (the
    run's `data.notes.rerank_weight` when None; 0 turns it off).
    """
    from tunesmith.train.runfolder import RunFolder

    folder = RunFolder(Path(run_dir))
    if not folder.exists():
        raise UsageError(f"{run_dir} is not a run folder (no run.json)", hint="check the path")
    config = folder.config()
    final = folder.final_dir
    if not (final / "method.json").is_file():
        status = folder.read().get("status")
        raise TunesmithError(
            f"run {folder.path.name} has no final model (status {status})",
            hint=f"finish it with `tunesmith train --resume {folder.path}`",
        )
    method = json.loads((final / "method.json").read_text(encoding="utf-8"))["method"]
    base = ModelConfig(
        name=config.model.name, dtype=dtype, trust_remote_code=config.model.trust_remote_code
    )
    if method == "full":
        loaded = load_model(base.model_copy(update={"name": str(final)}), device=device)
    else:
        loaded = load_model(base, device=device)
        loaded.model = _apply_run_weights(loaded.model, final, method)
    loaded.model.eval()
    notes = load_notes(final) if with_notes else None
    weight = config.data.notes.rerank_weight if rerank_weight is None else rerank_weight
    if notes is not None and len(notes) and weight > 0:
        scorer = _base_likelihood(method, loaded, base, device)
        notes.use_reranker(scorer, weight, config.data.notes.rerank_pool)
    return RunModel(folder.path, method, config, loaded, notes)


def _base_likelihood(method: str, loaded: LoadedModel, base: ModelConfig, device: str) -> Any:
    """The base model's query likelihood: a LoRA run's model with its adapter off, else the
    base loaded once more (a run's own weights would rank by what it was tuned on; the
    first-note gain of benchmarks/notes_retrieval.py was measured with the base model's)."""
    from tunesmith.models.scoring import query_likelihood

    if method != "lora":
        other = load_model(base, device=device)
        other.model.eval()
        return query_likelihood(other.model, other.tokenizer)
    model = loaded.model
    score = query_likelihood(model, loaded.tokenizer)

    def without_adapter(question: str, texts: Any) -> list[float]:
        with model.disable_adapter():
            return score(question, texts)

    return without_adapter


def _apply_run_weights(model: Any, final: Path, method: str) -> Any:
    if method == "lora":
        from peft import PeftModel

        return PeftModel.from_pretrained(model, final, is_trainable=False)
    import torch
    from safetensors.torch import load_file

    params = dict(model.named_parameters())
    trained = load_file(str(final / "trained.safetensors"))
    unknown = sorted(set(trained) - set(params))
    if unknown:
        raise TunesmithError(f"{final}: tensors {unknown[:3]} do not belong to the base model")
    with torch.no_grad():
        for name, tensor in trained.items():
            params[name].copy_(tensor.to(params[name].dtype))
    return model


def load_run_or_model(
    ref: str,
    *,
    device: str = "cpu",
    dtype: str = "auto",
    with_notes: bool = True,
    rerank_weight: float | None = None,
) -> RunModel | LoadedModel:
    """A run (folder, or name in the run registry) or a plain model (name, folder, .gguf)."""
    if is_run_dir(ref):
        return load_run(
            ref, device=device, dtype=dtype, with_notes=with_notes, rerank_weight=rerank_weight
        )
    path = Path(ref)
    if not path.exists():
        from tunesmith.models.registry import find_embedded

        if find_embedded(ref) is None:
            run_path = _registry_path(ref)
            if run_path is not None:
                return load_run(
                    run_path,
                    device=device,
                    dtype=dtype,
                    with_notes=with_notes,
                    rerank_weight=rerank_weight,
                )
    return load_model(ModelConfig(name=ref, dtype=dtype), device=device)


def _registry_path(ref: str) -> Path | None:
    from tunesmith.store import RunRegistry

    try:
        with RunRegistry() as registry:
            return Path(registry.get_run(ref).path)
    except UsageError:
        return None
