"""Crash-safe, verifiable training checkpoints, with no pickle anywhere.

One checkpoint is one folder under the run folder:

    run_dir/checkpoints/step-00000050/
        trainable.safetensors   trainable parameters by name
        optimizer.safetensors   every tensor of the optimizer state, keyed by its place in the
                                state dict ("state.3.exp_avg", "state.3.step")
        rng.safetensors         torch RNG states ("torch", "cuda.0", ...)
        state.json              everything that is not a tensor: optimizer param_groups and
                                non-tensor state, scheduler, data position, meta, python RNG
        manifest.json           sha256 and size of every file above; written last

A checkpoint is written into a temporary sibling folder (`.tmp-step-...`), each file is fsynced,
and the folder is renamed into place, so a crash leaves either the complete checkpoint or a
`.tmp-*` folder that is ignored and removed by the next save. Loading checks the manifest
before anything is deserialized, so a truncated or altered checkpoint is reported, never used.

state.json keeps python values exactly: tuples, dicts with non-string keys (the optimizer's
parameter indices) and non-finite floats are written as small tagged objects
(`{"__tuple__": [...]}`, `{"__dict__": [[key, value], ...]}`, `{"__float__": "inf"}`) and a
tensor's place as `{"__tensor__": "state.3.exp_avg"}`, so a loaded optimizer state dict equals
the saved one in every type, dtype and shape.

One process writes a run's checkpoints (rank 0 under torchrun); saves are not meant to run
concurrently on the same run folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import math
import numbers
import os
import random
import re
import shutil
import struct
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from tunesmith.errors import TunesmithError

FORMAT = "tunesmith-checkpoint"
VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
RNG_FILE = "rng.safetensors"
STATE_FILE = "state.json"
MANIFEST_FILE = "manifest.json"
REQUIRED_FILES = (TRAINABLE_FILE, OPTIMIZER_FILE, RNG_FILE, STATE_FILE)
TMP_PREFIX = ".tmp-"

_STEP_NAME = re.compile(r"^step-(\d+)$")
_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_CORRUPT_HINT = "resume from an earlier checkpoint, or delete this one"


class CheckpointError(TunesmithError):
    """A checkpoint cannot be written, or is missing, truncated, altered or unreadable.

    `reason` is the short cause without the checkpoint's path (for example "hash mismatch in
    trainable.safetensors (...)"); `path` is the checkpoint folder when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: Path | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.reason = reason or message


@dataclass
class CheckpointState:
    """Everything needed to continue training exactly where it stopped."""

    trainable: dict[str, torch.Tensor]
    """Trainable parameters by name (`named_parameters()` names)."""
    optimizer: dict[str, Any]
    """`optimizer.state_dict()`: tensors and python numbers, lists, tuples, dicts."""
    scheduler: dict[str, Any]
    """`scheduler.state_dict()`: python values only."""
    rng: dict[str, Any] = field(default_factory=dict)
    """`capture_rng()`: python, torch and (when used) cuda generator states."""
    data: dict[str, Any] = field(default_factory=dict)
    """Data position, JSON-able: epoch, batch index, samples seen, order seed."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Loop bookkeeping, JSON-able: step, losses, best validation loss."""


# --------------------------------------------------------------------------- public API


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint folder holds, from its name (`step-00000050` -> 50)."""
    match = _STEP_NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint folder name (step-NNNNNNNN)")
    return int(match.group(1))


def save_checkpoint(
    run_dir: Path, step: int, state: CheckpointState, *, keep: int | None = None
) -> Path:
    """Write `state` as `run_dir/checkpoints/step-NNNNNNNN` and return that folder.

    The folder appears complete or not at all; a folder for the same step is replaced only
    once the new one is complete. With `keep`, older checkpoints beyond the newest `keep` are
    deleted afterwards (the one just written is always kept). Stale `.tmp-*` folders left by
    an earlier crash are removed first.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int, not {step!r}")
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be at least 1, not {keep}")
    root = Path(run_dir) / CHECKPOINTS_DIR
    target = root / checkpoint_name(step)
    # Encode first: a state that cannot be saved fails before anything touches the disk.
    document, tensor_files = _encode_state(step, state)

    staging: Path | None = None
    writing = "the checkpoint folder"
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale(root)
        staging = root / f"{TMP_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()  # honours the umask, unlike tempfile.mkdtemp (0700)
        files: dict[str, dict[str, Any]] = {}
        for name, tensors in tensor_files.items():
            writing = name
            files[name] = _write_safetensors(staging / name, tensors)
        writing = STATE_FILE
        files[STATE_FILE] = _write_file(staging / STATE_FILE, _json_bytes(document))
        writing = MANIFEST_FILE
        _write_file(staging / MANIFEST_FILE, _json_bytes(_manifest(step, files)))
        _fsync_dir(staging)
        writing = "the checkpoint folder"
        _publish(staging, target)
        staging = None
    except OSError as exc:
        raise _save_error(exc, step, root, writing) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    if keep is not None:
        prune_checkpoints(run_dir, keep, protect={target})
    return target


def load_checkpoint(path: Path) -> CheckpointState:
    """Verify a checkpoint folder against its manifest, then read it.

    Raises `CheckpointError` naming the file and the problem (missing, truncated, hash
    mismatch, unreadable) before any file is deserialized.
    """
    path = Path(path)
    verify_checkpoint(path)
    trainable = _read_tensors(path, TRAINABLE_FILE)
    optimizer_tensors = _read_tensors(path, OPTIMIZER_FILE)
    rng_tensors = _read_tensors(path, RNG_FILE)
    try:
        document = json.loads((path / STATE_FILE).read_bytes())
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} state file")
        _check_version(path, STATE_FILE, document.get("version"))
        order = document["trainable"]
        if sorted(order) != sorted(trainable):
            raise ValueError(f"its tensor names do not match {TRAINABLE_FILE}")
        used: set[str] = set()
        optimizer = _decode(document["optimizer"], optimizer_tensors, used)
        if used != set(optimizer_tensors):
            raise ValueError(f"it does not account for every tensor in {OPTIMIZER_FILE}")
        rng = _decode(document["rng"], rng_tensors, set())
        scheduler = _decode(document["scheduler"], {}, set())
        data = _decode(document["data"], {}, set())
        meta = _decode(document["meta"], {}, set())
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _corrupt(path, f"{STATE_FILE} is unreadable: {exc}") from exc
    return CheckpointState(
        trainable={name: trainable[name] for name in order},
        optimizer=optimizer,
        scheduler=scheduler,
        rng=rng,
        data=data,
        meta=meta,
    )


def verify_checkpoint(path: Path) -> None:
    """Check every file of a checkpoint against its manifest (presence, size, sha256)."""
    path = Path(path)
    if not path.is_dir():
        raise _corrupt(path, "the checkpoint folder is missing")
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise _corrupt(path, f"{MANIFEST_FILE} is missing (the save did not finish)")
    try:
        manifest = json.loads(manifest_path.read_bytes())
        body = {key: manifest[key] for key in ("format", "version", "step", "files")}
        recorded = manifest["manifest_sha256"]
        files = body["files"]
        if body["format"] != FORMAT or not isinstance(files, dict):
            raise ValueError(f"not a {FORMAT} manifest")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _corrupt(path, f"{MANIFEST_FILE} is unreadable: {exc}") from exc
    if _sha256_bytes(_canonical(body)) != recorded:
        raise _corrupt(path, f"{MANIFEST_FILE} is corrupted (its own checksum does not match)")
    _check_version(path, MANIFEST_FILE, body["version"])
    for name in REQUIRED_FILES:
        if name not in files:
            raise _corrupt(path, f"{MANIFEST_FILE} does not list {name}")
    for name, expected in files.items():
        if name != Path(name).name or name in ("", ".", "..", MANIFEST_FILE):
            raise _corrupt(path, f"{MANIFEST_FILE} lists an invalid file name {name!r}")
        _verify_file(path, name, expected)


def find_resumable(run_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest checkpoint that verifies, and the newer ones skipped with the reason why.

    `.tmp-*` folders (interrupted saves) are not checkpoints and are never considered.
    """
    skipped: list[tuple[Path, str]] = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            verify_checkpoint(path)
        except CheckpointError as exc:
            skipped.append((path, exc.reason))
            continue
        return path, skipped
    return None, skipped


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint folders (`step-N`) of a run, oldest step first; other entries are ignored."""
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [
        (int(match.group(1)), entry.name, entry)
        for entry in root.iterdir()
        if (match := _STEP_NAME.match(entry.name)) and entry.is_dir()
    ]
    return [entry for _, _, entry in sorted(found)]


def prune_checkpoints(run_dir: Path, keep: int, protect: Iterable[Path] = ()) -> list[Path]:
    """Delete all but the newest `keep` checkpoints and the protected ones; return the deleted.

    A checkpoint is renamed to `.tmp-*` before it is deleted, so one whose deletion is
    interrupted is never taken for a checkpoint.
    """
    if keep < 0:
        raise ValueError(f"keep must be non-negative, not {keep}")
    checkpoints = list_checkpoints(run_dir)
    kept = set(checkpoints[max(0, len(checkpoints) - keep) :]) if keep else set()
    protected = {Path(p).resolve() for p in protect}
    deleted = []
    for path in checkpoints:
        if path in kept or path.resolve() in protected:
            continue
        doomed = path.with_name(f"{TMP_PREFIX}del-{path.name}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, doomed)
        except OSError as exc:
            raise CheckpointError(
                f"could not delete old checkpoint {path}: {exc.strerror or exc}", path=path
            ) from exc
        shutil.rmtree(doomed, ignore_errors=True)
        deleted.append(path)
    return deleted


def capture_rng() -> dict[str, Any]:
    """The python, torch and (if CUDA is in use) CUDA generator states."""
    rng: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def restore_rng(rng: dict[str, Any]) -> None:
    """Set the generators from `capture_rng()` output, also after a JSON round trip.

    Lists stand in for tuples and byte tensors (as JSON leaves them). CUDA states are restored
    on as many devices as both the checkpoint and this machine have; without CUDA they are
    skipped with a warning, since GPU randomness then cannot match the original run anyway.
    """
    try:
        if "python" in rng:
            random.setstate(_python_rng_state(rng["python"]))
        if "torch" in rng:
            torch.set_rng_state(_byte_tensor(rng["torch"]))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"the saved RNG state cannot be restored: {exc}") from exc
    cuda_states = rng.get("cuda")
    if not cuda_states:
        return
    if not torch.cuda.is_available():
        warnings.warn(
            "the checkpoint holds CUDA RNG states but CUDA is not available; "
            "random numbers on the GPU will differ from the original run",
            stacklevel=2,
        )
        return
    for index, state in enumerate(cuda_states[: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(_byte_tensor(state), index)


# --------------------------------------------------------------------------- encoding

_TAGS = frozenset({"__tensor__", "__tuple__", "__dict__", "__float__"})


def _encode_state(
    step: int, state: CheckpointState
) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """state.json's content and the tensors of each safetensors file."""
    if not isinstance(state.trainable, dict):
        raise CheckpointError("CheckpointState.trainable must be a dict of name -> tensor")
    for name, tensor in state.trainable.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"CheckpointState.trainable[{name!r}] must be a tensor under a string name, "
                f"not {type(tensor).__name__}"
            )
    optimizer_tensors: dict[str, torch.Tensor] = {}
    rng_tensors: dict[str, torch.Tensor] = {}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "trainable": list(state.trainable),
        "optimizer": _encode(state.optimizer, "optimizer", (), optimizer_tensors),
        "scheduler": _encode(state.scheduler, "scheduler", (), None),
        "rng": _encode(state.rng, "rng", (), rng_tensors),
        "data": _encode(state.data, "data", (), None),
        "meta": _encode(state.meta, "meta", (), None),
    }
    tensor_files = {
        TRAINABLE_FILE: dict(state.trainable),
        OPTIMIZER_FILE: optimizer_tensors,
        RNG_FILE: rng_tensors,
    }
    for file_name, tensors in tensor_files.items():
        for name, tensor in tensors.items():
            if tensor.layout != torch.strided or tensor.dtype not in _DTYPE_CODES:
                raise CheckpointError(
                    f"cannot save {name!r} in {file_name}: {tensor.layout} tensors of "
                    f"dtype {tensor.dtype} have no safetensors form"
                )
    return document, tensor_files


def _encode(
    value: Any, section: str, where: tuple[Any, ...], tensors: dict[str, torch.Tensor] | None
) -> Any:
    """A JSON value for `value`; tensors go into `tensors` (None: tensors are not allowed)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, torch.Tensor):
        if tensors is None:
            raise CheckpointError(
                f"cannot save {_where(section, where)}: it is a tensor, and {section} must "
                "hold plain python values",
                hint="convert it with .item() or .tolist()",
            )
        key = ".".join(str(part) for part in where) or "tensor"
        while key in tensors:
            key += "_"
        tensors[key] = value
        return {"__tensor__": key}
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else {"__float__": repr(number)}
    if isinstance(value, tuple):
        return {
            "__tuple__": [_encode(v, section, (*where, i), tensors) for i, v in enumerate(value)]
        }
    if isinstance(value, list):
        return [_encode(v, section, (*where, i), tensors) for i, v in enumerate(value)]
    if isinstance(value, dict):
        plain = all(isinstance(key, str) for key in value)
        if plain and not (len(value) == 1 and next(iter(value)) in _TAGS):
            return {key: _encode(v, section, (*where, key), tensors) for key, v in value.items()}
        return {
            "__dict__": [
                [
                    _encode(key, section, (*where, key), None),
                    _encode(v, section, (*where, key), tensors),
                ]
                for key, v in value.items()
            ]
        }
    raise CheckpointError(
        f"cannot save {_where(section, where)}: {type(value).__name__} is neither a tensor "
        "nor a JSON value (None, bool, int, float, str, list, tuple, dict)"
    )


def _decode(value: Any, tensors: dict[str, torch.Tensor], used: set[str]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors, used) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "__tensor__":
            if inner not in tensors:
                raise ValueError(f"it refers to tensor {inner!r}, which no tensor file holds")
            used.add(inner)
            return tensors[inner]
        if tag == "__tuple__":
            return tuple(_decode(v, tensors, used) for v in inner)
        if tag == "__dict__":
            return {_decode(k, {}, set()): _decode(v, tensors, used) for k, v in inner}
        if tag == "__float__":
            return float(inner)
    return {key: _decode(v, tensors, used) for key, v in value.items()}


def _where(section: str, where: tuple[Any, ...]) -> str:
    return section + "".join(f"[{part!r}]" for part in where)


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _manifest(step: int, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    body = {"format": FORMAT, "version": VERSION, "step": step, "files": files}
    return {**body, "manifest_sha256": _sha256_bytes(_canonical(body))}


# --------------------------------------------------------------------------- writing


class _HashingWriter:
    """Writes one new file, hashing and counting the bytes; `finish()` fsyncs and closes it."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "xb")  # noqa: SIM115 - closed by finish() or close()
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        self._file.write(view)
        self._digest.update(view)
        self.size += view.nbytes

    def finish(self) -> dict[str, Any]:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return {"sha256": self._digest.hexdigest(), "bytes": self.size}

    def close(self) -> None:
        # After a failed write, that error is the one worth reporting, not close()'s.
        with contextlib.suppress(OSError):
            self._file.close()


def _write_file(path: Path, data: bytes) -> dict[str, Any]:
    writer = _HashingWriter(path)
    try:
        writer.write(data)
        return writer.finish()
    finally:
        writer.close()


# safetensors dtype codes (https://github.com/huggingface/safetensors, format spec)
_DTYPE_CODES = {
    dtype: code
    for name, code in (
        ("float64", "F64"),
        ("float32", "F32"),
        ("float16", "F16"),
        ("bfloat16", "BF16"),
        ("int64", "I64"),
        ("int32", "I32"),
        ("int16", "I16"),
        ("int8", "I8"),
        ("uint64", "U64"),
        ("uint32", "U32"),
        ("uint16", "U16"),
        ("uint8", "U8"),
        ("bool", "BOOL"),
        ("complex64", "C64"),
        ("float8_e4m3fn", "F8_E4M3"),
        ("float8_e5m2", "F8_E5M2"),
        ("float8_e4m3fnuz", "F8_E4M3FNUZ"),
        ("float8_e5m2fnuz", "F8_E5M2FNUZ"),
    )
    if (dtype := getattr(torch, name, None)) is not None
}


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Write a standard safetensors file one tensor at a time (no second copy of the state).

    safetensors' own writer reports a full disk as its own error type and cannot fsync; this
    one raises OSError with its errno, fsyncs, and hashes while writing. Tensors are laid out
    largest element size first after an 8-byte-aligned header, as safetensors does, so every
    tensor is aligned for its dtype.
    """
    order = sorted(tensors, key=lambda name: -tensors[name].element_size())
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in order:
        tensor = tensors[name]
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _DTYPE_CODES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    writer = _HashingWriter(path)
    try:
        writer.write(struct.pack("<Q", len(encoded)) + encoded)
        for name in order:
            tensor = tensors[name].detach().to("cpu").contiguous().resolve_conj().resolve_neg()
            size = tensor.numel() * tensor.element_size()
            if size:
                writer.write((ctypes.c_ubyte * size).from_address(tensor.data_ptr()))
        return writer.finish()
    finally:
        writer.close()


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems do not support fsync on a directory
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _publish(staging: Path, target: Path) -> None:
    """Rename the finished folder into place; an existing one is replaced only now."""
    displaced = None
    if target.exists():
        displaced = target.with_name(f"{TMP_PREFIX}old-{target.name}-{uuid.uuid4().hex[:8]}")
        os.rename(target, displaced)
    try:
        os.rename(staging, target)
    except OSError:
        if displaced is not None:
            os.rename(displaced, target)
        raise
    _fsync_dir(target.parent)
    if displaced is not None:
        shutil.rmtree(displaced, ignore_errors=True)


def _remove_stale(root: Path) -> None:
    for entry in root.iterdir():
        if entry.name.startswith(TMP_PREFIX) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _save_error(exc: OSError, step: int, root: Path, writing: str) -> CheckpointError:
    if exc.errno in _NO_SPACE:
        return CheckpointError(
            f"no space left on device while saving checkpoint step {step} to {root} "
            f"(writing {writing}); earlier checkpoints are intact",
            hint="free disk space, or keep fewer checkpoints",
        )
    return CheckpointError(
        f"could not save checkpoint step {step} to {root} (writing {writing}): "
        f"{exc.strerror or exc}; earlier checkpoints are intact"
    )


# --------------------------------------------------------------------------- reading


def _verify_file(folder: Path, name: str, expected: Any) -> None:
    try:
        want_size, want_sha = int(expected["bytes"]), str(expected["sha256"])
    except (KeyError, TypeError, ValueError):
        raise _corrupt(folder, f"{MANIFEST_FILE} has no size and sha256 for {name}") from None
    path = folder / name
    if not path.is_file():
        raise _corrupt(folder, f"{name} is missing")
    try:
        size = path.stat().st_size
        if size != want_size:
            what = "truncated" if size < want_size else "longer than written"
            raise _corrupt(folder, f"{name} is {what} ({size} bytes, manifest says {want_size})")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
    except OSError as exc:
        raise _corrupt(folder, f"{name} is unreadable: {exc.strerror or exc}") from exc
    if digest.hexdigest() != want_sha:
        raise _corrupt(
            folder,
            f"hash mismatch in {name} (sha256 {digest.hexdigest()[:12]}…, "
            f"manifest says {want_sha[:12]}…)",
        )


def _read_tensors(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """Tensors in memory of their own: safetensors' tensors map the file, which would keep a
    pruned checkpoint's disk space in use (and, on Windows, block deleting it) for as long as
    the optimizer state lives. Copied one at a time, so the extra memory is one tensor."""
    try:
        with safe_open(str(folder / name), framework="pt") as handle:
            return {key: handle.get_tensor(key).clone() for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:  # safetensors raises its own error type for a malformed file
        raise _corrupt(folder, f"{name} is unreadable: {exc}") from exc


def _check_version(folder: Path, name: str, version: Any) -> None:
    if not isinstance(version, int) or version > VERSION:
        raise _corrupt(
            folder,
            f"{name} has format version {version!r}; this tunesmith reads up to {VERSION}",
        )


def _corrupt(folder: Path, reason: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {folder} cannot be used: {reason}",
        hint=_CORRUPT_HINT,
        path=folder,
        reason=reason,
    )


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _python_rng_state(value: Any) -> tuple[Any, ...]:
    """`random.getstate()` form (int, tuple of ints, float | None) from tuples or lists."""
    version, internal, gauss = value
    return (int(version), tuple(int(x) for x in internal), None if gauss is None else float(gauss))


def _byte_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to(device="cpu", dtype=torch.uint8)
    return torch.tensor(list(value), dtype=torch.uint8)
