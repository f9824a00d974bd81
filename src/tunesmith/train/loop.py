"""The training loop: one explicit function you can read top to bottom.

    load model -> apply method -> prepare data (+ replay samples) -> optimizer + schedule ->
    (resume) -> for each optimizer step: micro-batches, summed token loss / trained tokens,
    backward, clip, step; validate, checkpoint, log -> save final/ -> plot -> run.json

Loss normalisation: every micro-batch contributes its *summed* token loss divided by the number
of trained tokens in the whole optimizer step (all micro-batches, all processes), so gradient
accumulation and multi-process training give the same gradient as one big batch.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tunesmith.allocator import active_allocator, allocator_options
from tunesmith.config import TunesmithConfig
from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.methods import MethodSetup, apply_method
from tunesmith.models import load_model
from tunesmith.train import checkpoint as ckpt
from tunesmith.train.attention import packed_attention
from tunesmith.train.compile import compile_blocks, plan_compile
from tunesmith.train.distributed import (
    DistContext,
    all_reduce_sum,
    barrier,
    broadcast_flag,
    init_distributed,
    shutdown,
)
from tunesmith.train.loss import soft_target_batch, summed_token_loss
from tunesmith.train.memory import (
    available_bytes,
    check_memory,
    estimate_training_bytes,
    peak_memory_mb,
)
from tunesmith.train.noise import embedding_noise
from tunesmith.train.optim import build_optimizer, build_scheduler, peak_lr
from tunesmith.train.precision import autocast, cast_frozen_weights, resolve_precision
from tunesmith.train.prefix import PrefixCache, build_prefix_cache, verify_prefix_cache
from tunesmith.train.runfolder import RunFolder, new_run_name, utc_now
from tunesmith.train.save import save_best, save_final

Event = dict[str, Any]
EventHandler = Callable[[Event], None]


@dataclass
class LoopState:
    """Where training stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0
    best_val_loss: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    last_loss: float | None = None
    elapsed: float = 0.0
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    record: dict[str, Any] = field(default_factory=dict)


class LossModule(torch.nn.Module):
    """Wraps the model so DDP sees the whole loss computation as one forward."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return summed_token_loss(self.model, batch)


def train(
    config: TunesmithConfig,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    on_event: EventHandler | None = None,
) -> TrainResult:
    """Train per `config` into `run_dir` (new) or continue the run in `run_dir` (resume)."""
    context = init_distributed()
    try:
        return _train(config, run_dir, context, resume, on_event or (lambda event: None))
    finally:
        # Left alive, gloo's worker threads are torn down at interpreter exit while still
        # joinable, and the process aborts ("terminate called without an active exception").
        shutdown(context)


def _train(config: TunesmithConfig, run_dir: Path | None, context: DistContext, resume: bool,
           emit: EventHandler) -> TrainResult:  # fmt: skip
    if resume:
        if run_dir is None:
            raise ConfigError("resume needs the run folder")
        config = RunFolder(run_dir).config()
    folder = RunFolder(run_dir or _default_run_dir(config, context))
    _seed_everything(config.train.seed)
    torch.set_num_threads(_threads(context))

    loaded = load_model(config.model, device=str(context.device))
    setup = apply_method(loaded.model, config.method)
    precision = resolve_precision(config.train.precision, context.device)
    cast_frozen_weights(setup.model, precision)
    dataset = _prepare(config, loaded)
    # Hashes the base weights (every safetensors file when not GGUF): once, and only if needed.
    base_identity = functools.cache(lambda: _model_identity(loaded))
    replay = _add_replay(config, loaded, setup, dataset, precision, context, emit, base_identity)
    _check_batching(config, context)
    steps_per_epoch = math.ceil(len(dataset.train) / config.train.batch_size)
    total_steps = _total_steps(config, _source_examples(dataset))
    check_memory(setup, config, dataset, precision, context.device)
    compile_plan = plan_compile(config.train.compile, context.device)
    if compile_plan.enabled:
        compile_blocks(setup.model)
    prefix = _prefix_cache(config, setup, dataset, precision, context)

    params = [p for p in setup.model.parameters() if p.requires_grad]
    lr = peak_lr(config.train, config.method.name)
    optimizer = build_optimizer(params, config.train, lr)
    scheduler = build_scheduler(optimizer, config.train, total_steps)
    state = LoopState()
    if resume:
        state = _restore(folder, setup, optimizer, scheduler, emit)
    elif context.is_main:
        record = _initial_record(config, base_identity(), setup, dataset, folder)
        record["data"]["replay"] = replay
        folder.create(config, record)
    barrier(context)

    module = _wrap(setup.model, context)
    if context.is_main:
        folder.update(status="running", started_at=utc_now(), error=None,
                      device=str(context.device), processes=context.world_size,
                      precision=precision, compile=compile_plan.to_dict())  # fmt: skip
        _register(folder)
    emit(
        {
            "event": "start",
            "run_dir": str(folder.path),
            "total_steps": total_steps,
            "step": state.step,
            "method": setup.name,
            "precision": precision,
            "device": str(context.device),
            "compile": compile_plan.to_dict(),
            "trainable_parameters": setup.counts()[0],
            "lr": lr,
            "augmentation": dataset.augmentation,
            "out_of_scope": dataset.out_of_scope,
            "answer_notes": dataset.notes,
            "replay": replay,
        }
    )
    started = time.perf_counter() - state.elapsed
    try:
        base = _base_of(setup.model)
        with packed_attention(base), embedding_noise(base, config.train.neftune_alpha):
            _verify_prefix_cache(prefix, setup, module, dataset, context, precision)
            emit({"event": "prefix_cache", **prefix.summary()})
            _loop(
                config,
                context,
                folder,
                setup,
                module,
                dataset,
                optimizer,
                scheduler,
                state,
                total_steps,
                steps_per_epoch,
                started,
                emit,
                prefix,
            )
    except KeyboardInterrupt:
        state.elapsed = time.perf_counter() - started
        _save_checkpoint(config, context, folder, setup, optimizer, scheduler, state)
        if context.is_main:
            _finish(folder, state, "cancelled", error="interrupted (Ctrl-C); resume with --resume")
        emit({"event": "end", "status": "cancelled", "step": state.step})
        raise
    except Exception as exc:
        if context.is_main:
            _finish(folder, state, "failed", error=f"{type(exc).__name__}: {exc}")
        emit({"event": "end", "status": "failed", "error": str(exc)})
        raise
    state.elapsed = time.perf_counter() - started
    if context.is_main:
        save_final(folder, setup, loaded.tokenizer, config)
        _save_notes(folder, dataset)
        _plot(folder)
        folder.update(prefix_cache=prefix.summary())
        record = _finish(folder, state, "succeeded")
    else:
        record = {}
    barrier(context)
    emit({"event": "end", "status": "succeeded", "step": state.step, "run_dir": str(folder.path)})
    return TrainResult(folder.path, "succeeded", record)


def _loop(config, context, folder, setup, module, dataset, optimizer, scheduler, state,
          total_steps, steps_per_epoch, started, emit, prefix) -> None:  # fmt: skip
    train_cfg = config.train
    pack_len = dataset.seq_len if dataset.packed else None
    while state.step < total_steps:
        order = _epoch_order(len(dataset.train), train_cfg.seed, state.epoch)
        while state.batch_in_epoch < steps_per_epoch and state.step < total_steps:
            first = state.batch_in_epoch * train_cfg.batch_size
            items = [dataset.train[i] for i in order[first : first + train_cfg.batch_size]]
            step_started = time.perf_counter()
            loss, tokens, grad_norm = _optimizer_step(
                config, context, setup, module, optimizer, scheduler, items, pack_len, prefix
            )
            state.step += 1
            state.batch_in_epoch += 1
            state.tokens_seen += tokens
            state.last_loss = loss
            seconds = time.perf_counter() - step_started
            row = {"step": state.step, "epoch": state.epoch, "loss": round(loss, 6),
                   "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                   "tokens": tokens, "tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
                   "elapsed": round(time.perf_counter() - started, 3)}  # fmt: skip
            if _due(state.step, train_cfg.eval_every, total_steps) and dataset.validation:
                row["val_loss"] = _validate(
                    context, module, dataset.validation, train_cfg, pack_len, prefix
                )
                _track_best(config, context, folder, setup, state, row["val_loss"])
                emit({"event": "eval", "step": state.step, "val_loss": row["val_loss"]})
            if context.is_main:
                folder.append_metrics(row)
            emit({"event": "step", **row, "total_steps": total_steps})
            state.elapsed = time.perf_counter() - started
            if _due(state.step, train_cfg.save_every, total_steps):
                _save_checkpoint(config, context, folder, setup, optimizer, scheduler, state)
            if broadcast_flag(state.stopped_early, context):
                return
        state.epoch += 1
        state.batch_in_epoch = 0


def _optimizer_step(config, context, setup, module, optimizer, scheduler, items, pack_len,
                    prefix: PrefixCache | None = None):  # fmt: skip
    """One optimizer step over `items` split across processes and micro-batches."""
    train_cfg = config.train
    prefix = prefix or PrefixCache()  # off: every micro-batch runs the whole model
    mine = items[context.rank :: context.world_size]
    micro = max(1, math.ceil(len(mine) / train_cfg.grad_accum))
    chunks = [mine[i : i + micro] for i in range(0, len(mine), micro)]
    step_tokens = sum(_trained_tokens(item) for item in items)
    pad_id = _pad_id_from(setup.model)
    precision = resolve_precision(train_cfg.precision, context.device)
    summed = 0.0
    real_tokens = 0
    for index, chunk in enumerate(chunks):
        batch, layout = _collate(chunk, pad_id, pack_len)
        batch = {k: v.to(context.device) for k, v in batch.items()}
        real_tokens += sum(len(item.input_ids) for item in chunk)
        sync = index == len(chunks) - 1
        with (
            _maybe_no_sync(module, context, sync),
            autocast(precision, context.device),
            prefix.forward(chunk, layout, batch) as batch,
        ):
            loss_sum, _ = module(batch)
            # DDP averages gradients over processes; scale so the result is sum / step_tokens.
            (loss_sum * context.world_size / max(step_tokens, 1)).backward()
        summed += float(loss_sum.detach())
    params = [p for p in setup.model.parameters() if p.requires_grad]
    grad_norm = None
    if train_cfg.max_grad_norm is not None:
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, train_cfg.max_grad_norm))
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    loss = all_reduce_sum(summed, context) / max(step_tokens, 1)
    tokens = int(all_reduce_sum(real_tokens, context))
    return loss, tokens, grad_norm


def _validate(context, module, validation, train_cfg, pack_len, prefix=None) -> float:
    model = module.module if hasattr(module, "module") else module
    prefix = prefix or PrefixCache()
    pad_id = _pad_id_from(model.model)
    mine = validation[context.rank :: context.world_size]
    micro = max(1, train_cfg.batch_size // train_cfg.grad_accum)
    precision = resolve_precision(train_cfg.precision, context.device)
    summed, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(precision, context.device):
        for start in range(0, len(mine), micro):
            chunk = mine[start : start + micro]
            batch, layout = _collate(chunk, pad_id, pack_len)
            batch = {k: v.to(context.device) for k, v in batch.items()}
            with prefix.forward(chunk, layout, batch) as batch:
                loss_sum, tokens = model(batch)
            summed += float(loss_sum)
            count += tokens
    model.train(was_training)
    total = all_reduce_sum(summed, context)
    return round(total / max(all_reduce_sum(count, context), 1), 6)


def _track_best(config, context, folder, setup, state: LoopState, val_loss: float) -> None:
    if state.best_val_loss is None or val_loss < state.best_val_loss - 1e-6:
        state.best_val_loss, state.best_step, state.bad_evals = val_loss, state.step, 0
        if context.is_main:
            save_best(folder, setup, state.step)
        return
    state.bad_evals += 1
    patience = config.train.early_stopping_patience
    if patience is not None and state.bad_evals >= patience:
        state.stopped_early = True


def _save_checkpoint(config, context, folder, setup, optimizer, scheduler, state) -> None:
    if not context.is_main:
        return
    checkpoint_state = ckpt.CheckpointState(
        trainable={
            name: p.detach().float().cpu()
            for name, p in setup.model.named_parameters()
            if p.requires_grad
        },
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        rng=ckpt.capture_rng(),
        data={"epoch": state.epoch, "batch_in_epoch": state.batch_in_epoch},
        meta=state.to_dict(),
    )
    path = ckpt.save_checkpoint(
        folder.path, state.step, checkpoint_state, keep=config.train.keep_checkpoints
    )
    folder.update(last_checkpoint=str(path.relative_to(folder.path)), steps=state.step)


def _restore(folder: RunFolder, setup: MethodSetup, optimizer, scheduler, emit) -> LoopState:
    path, skipped = ckpt.find_resumable(folder.path)
    for bad, reason in skipped:
        emit({"event": "warning", "message": f"checkpoint {bad.name} is unusable ({reason})"})
    if path is None:
        raise TunesmithError(
            f"{folder.path} has no valid checkpoint to resume from",
            hint="start a new run instead",
        )
    saved = ckpt.load_checkpoint(path)
    params = dict(setup.model.named_parameters())
    missing = sorted(set(saved.trainable) - set(params))
    if missing:
        raise TunesmithError(f"{path}: checkpoint tensors {missing[:3]} are not in the model")
    with torch.no_grad():
        for name, tensor in saved.trainable.items():
            params[name].copy_(tensor.to(params[name].dtype))
    optimizer.load_state_dict(saved.optimizer)
    scheduler.load_state_dict(saved.scheduler)
    fields = LoopState().to_dict().keys()
    state = LoopState(**{k: v for k, v in saved.meta.items() if k in fields})
    state.epoch = int(saved.data["epoch"])
    state.batch_in_epoch = int(saved.data["batch_in_epoch"])
    ckpt.restore_rng(saved.rng)
    folder.truncate_metrics_after(state.step)
    emit({"event": "resume", "checkpoint": path.name, "step": state.step})
    return state


def _finish(folder: RunFolder, state: LoopState, status: str, error: str | None = None):
    record = folder.update(
        status=status,
        ended_at=utc_now(),
        wall_seconds=round(state.elapsed, 2),
        steps=state.step,
        tokens_seen=state.tokens_seen,
        final_train_loss=state.last_loss,
        best_val_loss=state.best_val_loss,
        best_step=state.best_step,
        stopped_early=state.stopped_early,
        peak_memory_mb=peak_memory_mb(),
        error=error,
    )
    _register(folder)
    return record


def _model_identity(loaded) -> dict[str, Any]:
    from tunesmith.models.info import model_identity

    return model_identity(loaded.source, loaded.folder)


def _initial_record(config, identity: dict, setup: MethodSetup, dataset, folder: RunFolder) -> dict:
    trainable, total = setup.counts()
    return {
        "id": folder.path.name,
        "name": folder.path.name,
        "method": setup.name,
        "model": identity,
        "data": {
            "train": str(config.data.train),
            "validation": str(config.data.validation) if config.data.validation else None,
            "sha256": dataset.data_sha256,
            "prepared": str(dataset.path),
            "train_items": len(dataset.train),
            "validation_items": len(dataset.validation),
            "augmentation": dataset.augmentation,
            "out_of_scope": dataset.out_of_scope,
            "answer_notes": dataset.notes,
        },
        "trainable_parameters": trainable,
        "total_parameters": total,
        "trainable_share": round(trainable / total, 6) if total else 0.0,
        "notes": setup.notes,
        # Speed depends on it (tunesmith.allocator), so a slow run can be explained later.
        "allocator": active_allocator(),
        "allocator_options": allocator_options(),
    }


def _prepare(config: TunesmithConfig, loaded):
    """Tokenized examples, stored unpacked: each optimizer step packs its own examples.

    Packing per step keeps `train.batch_size` counted in examples (packed or not) and lets the
    examples meet in new combinations every epoch.
    """
    from tunesmith.data.prepare import prepare_dataset, resolved_settings

    if config.data.train is None:
        raise ConfigError("data.train is empty", hint="set data.train to your training file")
    context_length = getattr(loaded.model.config, "max_position_embeddings", None)
    # Stored unpacked, but every example (original or generated variant) must fit a packed row.
    limit = resolved_settings(config.data, context_length)["max_length"]
    dataset = prepare_dataset(
        config.data.model_copy(update={"pack": False, "max_length": limit}),
        loaded.tokenizer,
        model_id=str(loaded.folder),
        context_length=context_length,
    )
    if not dataset.train:
        raise ConfigError(f"{config.data.train}: no training examples after preparation")
    dataset.seq_len = resolved_settings(config.data, context_length)["seq_len"]
    dataset.packed = config.data.pack
    return dataset


def _add_replay(config, loaded, setup, dataset, precision, context, emit, identity) -> dict | None:
    """Append the base model's own samples to the training examples (train.replay.share).

    They add steps: `train.epochs` passes over the user's examples and the replay share.
    """
    from tunesmith.train.replay import replay_count, replay_examples

    replay_config = config.train.replay
    count = replay_count(replay_config, _source_examples(dataset))
    if not count:
        return None
    emit({"event": "replay", "samples": count})
    examples = replay_examples(
        setup.model,
        loaded.tokenizer,
        replay_config,
        count=count,
        seed=config.train.seed,
        model_sha256=identity()["sha256"],
        precision_context=autocast(precision, context.device),
        max_length=(dataset.seq_len if dataset.packed else None) or config.data.max_length,
    )
    dataset.train = [*dataset.train, *examples]
    return {
        "share": replay_config.share,
        "samples": len(examples),
        "tokens": sum(len(example.input_ids) for example in examples),
        "targets": replay_config.targets,
        "top_k": replay_config.top_k if replay_config.targets == "distribution" else None,
    }


def _prefix_cache(config, setup, dataset, precision, context) -> PrefixCache:
    """Keep the frozen blocks' output per example, within train.prefix_cache_mb and free memory."""
    from tunesmith.methods.blocks import decoder_blocks
    from tunesmith.train.loss import language_model_parts

    decoder = language_model_parts(setup.model)[0]
    wanted = config.train.prefix_cache_mb * 1024**2
    # Processes on one machine share its memory, and each may keep every example it meets.
    spare = available_bytes(context.device) - estimate_training_bytes(
        setup, config, dataset, precision
    )
    if context.device.type == "cpu":
        spare //= max(1, context.world_size)
    cache = build_prefix_cache(
        decoder,
        setup.first_trainable_block,
        budget_bytes=max(0, min(wanted, spare // 2)) if wanted else 0,
        noise=bool(config.train.neftune_alpha),
    )
    if cache.enabled and decoder.layers is not decoder_blocks(setup.model):
        cache.off_reason = "the decoder's `layers` are not its transformer blocks"
    return cache


def _verify_prefix_cache(prefix, setup, module, dataset, context, precision) -> None:
    loss_module = module.module if hasattr(module, "module") else module
    item = dataset.train[0]
    pack_len = dataset.seq_len if dataset.packed else None
    batch, _ = _collate([item], _pad_id_from(setup.model), pack_len)
    batch = {k: v.to(context.device) for k, v in batch.items()}
    with autocast(precision, context.device):
        verify_prefix_cache(prefix, lambda b: loss_module(b)[0], item, batch)


def _check_batching(config: TunesmithConfig, context: DistContext) -> None:
    train_cfg = config.train
    if train_cfg.batch_size % (train_cfg.grad_accum * context.world_size):
        raise ConfigError(
            f"train.batch_size {train_cfg.batch_size} is not divisible by train.grad_accum "
            f"{train_cfg.grad_accum} x {context.world_size} processes",
            hint="make batch_size a multiple of grad_accum x processes",
        )


def _total_steps(config: TunesmithConfig, source_examples: int) -> int:
    if config.train.max_steps is not None:
        return config.train.max_steps
    return max(1, math.ceil(source_examples * config.train.epochs / config.train.batch_size))


def _source_examples(dataset: Any) -> int:
    """Training examples from the user's data, replay and out-of-scope questions, not counting
    augmented variants.

    `train.epochs` counts passes over the user's examples, so augmentation costs no extra
    steps: the steps walk through the larger, augmented set, and repetition is replaced by
    variety (3 epochs over data augmented 5x see 60% of the augmented examples once).
    """
    generated = (dataset.augmentation or {}).get("kept", 0)
    return max(1, len(dataset.train) - generated)


def _epoch_order(count: int, seed: int, epoch: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    return torch.randperm(count, generator=generator).tolist()


def _due(step: int, every: int, total: int) -> bool:
    return step % every == 0 or step == total


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _threads(context: DistContext) -> int:
    import psutil

    physical = psutil.cpu_count(logical=False) or torch.get_num_threads()
    return max(1, physical // context.world_size)


def _wrap(model: torch.nn.Module, context: DistContext) -> torch.nn.Module:
    module = LossModule(model)
    module.train()
    if not context.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def _maybe_no_sync(module, context: DistContext, sync: bool):
    if context.enabled and not sync:
        return module.no_sync()
    return contextlib.nullcontext()


def _collate(
    items: list[Any], pad_id: int, pack_len: int | None
) -> tuple[dict[str, torch.Tensor], list[list[int]]]:
    """Pack the examples into rows of `pack_len` tokens, or right-pad them one per row.

    Also returns which items (by position) each row holds, in order.
    """
    from tunesmith.data.pack import collate_packed, collate_padded, pack_even

    if pack_len:
        rows = pack_even(items, pack_len)
        batch, layout = collate_packed(rows, pad_token_id=pad_id), [row.members for row in rows]
    else:
        batch, layout = collate_padded(items, pad_id), [[index] for index in range(len(items))]
    return {**batch, **soft_target_batch(items, layout, batch["input_ids"].shape[1])}, layout


def _trained_tokens(item: Any) -> int:
    return sum(1 for label in item.labels[1:] if label != -100)


def _pad_id_from(model: Any) -> int:
    config = model.config
    pad = getattr(config, "pad_token_id", None)
    if pad is None:
        eos = getattr(config, "eos_token_id", 0)
        pad = eos[0] if isinstance(eos, list) else eos
    return int(pad or 0)


def _base_of(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _default_run_dir(config: TunesmithConfig, context: DistContext) -> Path:
    """A new run folder; under torchrun every process takes rank 0's timestamped name."""
    name = [config.output.name or new_run_name(config.method.name)]
    if context.enabled:
        import torch.distributed as dist

        dist.broadcast_object_list(name, src=0)
    return config.output.dir / name[0]


def _save_notes(folder: RunFolder, dataset) -> None:
    """Keep the answer notes beside the final weights: inference shows them (data/notes.py)."""
    import shutil

    if dataset.notes_dir is not None:
        from tunesmith.data.notes import NOTES_DIR

        shutil.copytree(dataset.notes_dir, folder.final_dir / NOTES_DIR, dirs_exist_ok=True)


def _register(folder: RunFolder) -> None:
    """Index the run in the SQLite registry; the run folder stays the source of truth."""
    from tunesmith.store.registry import register_run_folder

    register_run_folder(folder.path)


def _plot(folder: RunFolder) -> None:
    from tunesmith.train.plot import plot_losses

    plot_losses(folder.metrics(), folder.path / "loss.png")
