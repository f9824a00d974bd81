"""The server's models: one base model in memory, its LoRA runs as adapters, other runs apart.

Clients pick a model by name; names are only ever keys of this registry's dict, never paths.

    base          the model the server was started with
    lora runs     adapters on ONE PeftModel over the shared base (when the run was trained from
                  that very base: same weights hash); a batch may mix adapters and the base
    freeze, full  their own model in memory (their weights differ from the base's)
    other LoRA    runs from another base (or DoRA, which peft cannot mix per row) load apart

Adapters are stored under internal keys (`a0`, `a1`, ...) so that any public name works
with peft, whose module dictionaries reject dots.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.config import ModelConfig
from tunesmith.data.notes import NoteIndex, load_notes
from tunesmith.errors import TunesmithError, UsageError
from tunesmith.models import load_model
from tunesmith.models.info import model_identity
from tunesmith.serve.engine import Engine
from tunesmith.serve.errors import model_not_found
from tunesmith.train.artifacts import is_run_dir, load_run

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
DEFAULT_CONTEXT = 2048


class NameTaken(UsageError):
    """A model of that name is already served."""


class InvalidName(UsageError):
    """The name cannot be a model name."""


@dataclass
class ServedModel:
    """A name clients can ask for, and what serves it."""

    name: str
    kind: str  # base | lora | freeze | full
    engine: Engine
    adapter: str | None  # internal adapter key on the shared base; None for whole models
    created: int
    run_dir: Path | None = None
    notes: NoteIndex | None = None  # the run's answer notes, shown with every chat request

    @property
    def tokenizer(self) -> Any:
        return self.engine.tokenizer

    @property
    def context_length(self) -> int:
        return context_length(self.engine.model, self.engine.tokenizer)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI model object, plus what kind of model it is."""
        return {
            "id": self.name,
            "object": "model",
            "created": self.created,
            "owned_by": "tunesmith",
            "kind": self.kind,
            "context_length": self.context_length,
            "notes": self.notes.count if self.notes is not None else None,
        }


class ModelRegistry:
    """Loads, names and unloads the models a server answers for."""

    def __init__(
        self,
        base: str,
        *,
        name: str | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        max_batch: int = 8,
        max_queue: int = 64,
        notes: bool = True,
    ) -> None:
        self.device = device
        self.use_notes = notes
        self.dtype = dtype
        self.max_batch = max_batch
        self.max_queue = max_queue
        loaded = load_model(ModelConfig(name=base, dtype=dtype), device=device)
        self.base_name = name or default_name(loaded.source)
        self.base_identity = model_identity(loaded.source, loaded.folder)
        self.base_engine = self._engine(loaded.model, loaded.tokenizer, self.base_name)
        base_model = ServedModel(self.base_name, "base", self.base_engine, None, _now())
        self._models: dict[str, ServedModel] = {self.base_name: base_model}
        self._lock = threading.Lock()  # one add or remove at a time
        self._scorers: dict[str, Any] = {}  # base model name -> query-likelihood scorer
        self._keys = (f"a{i}" for i in itertools.count())

    def get(self, name: str) -> ServedModel:
        """The model called `name`, or a 404 for the client."""
        served = self._models.get(name) if isinstance(name, str) else None
        if served is None:
            raise model_not_found(name)
        return served

    def models(self) -> list[ServedModel]:
        return list(self._models.values())

    def add_run(self, name: str, path: str | Path) -> ServedModel:
        """Serve the finished run at `path` as model `name`."""
        _check_name(name)
        run_dir = Path(path).expanduser()
        method, record = _read_run(run_dir)
        with self._lock:
            if name in self._models:
                raise NameTaken(f"a model called {name!r} is already served", hint="pick another")
            if method == "lora" and self._shares_base(record, run_dir):
                served = self._attach_adapter(name, run_dir)
            else:
                served = self._load_apart(name, run_dir, method)
            served.notes = self._notes(run_dir) if self.use_notes else None
            self._models[name] = served
        return served

    def remove_run(self, name: str) -> None:
        """Stop serving run `name`; its running requests end with an error."""
        with self._lock:
            served = self._models.get(name)
            if served is None:
                raise model_not_found(name)
            if served.kind == "base":
                raise UsageError(f"{name!r} is the server's base model; it cannot be removed")
            del self._models[name]
        message = f"model {name!r} was removed from the server"
        if served.adapter is None:
            served.engine.close(message)
            return
        key, engine = served.adapter, served.engine

        def detach() -> None:
            engine.abort_where(lambda request: request.adapter == key, message)
            if list(engine.model.peft_config) == [key]:
                # peft cannot run with no adapter left: take the LoRA layers out again
                engine.model = engine.model.unload()
                engine.mixed_adapters = False
            else:
                with warnings.catch_warnings():  # "active adapter deleted": rows name theirs
                    warnings.simplefilter("ignore", UserWarning)
                    engine.model.delete_adapter(key)

        engine.call(detach)

    def close(self) -> None:
        engines = {id(s.engine): s.engine for s in self._models.values()}
        for engine in engines.values():
            engine.close()

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: served.engine.stats() for name, served in self._models.items()}

    # --- loading -------------------------------------------------------------------------

    def _engine(self, model: Any, tokenizer: Any, name: str) -> Engine:
        return Engine(
            model, tokenizer, name=name, max_batch=self.max_batch, max_queue=self.max_queue
        )

    def _shares_base(self, record: dict[str, Any], run_dir: Path) -> bool:
        """Same base weights (by hash), and an adapter peft can mix per row (not DoRA)."""
        digest = (record.get("model") or {}).get("sha256")
        if not digest or digest != self.base_identity.get("sha256"):
            return False
        config = _read_json(run_dir / "final" / "adapter_config.json")
        return not config.get("use_dora", False)

    def _attach_adapter(self, name: str, run_dir: Path) -> ServedModel:
        key = next(self._keys)
        final = str(run_dir / "final")
        engine = self.base_engine

        def attach() -> None:
            from peft import PeftModel

            if isinstance(engine.model, PeftModel):
                engine.model.load_adapter(final, adapter_name=key, is_trainable=False)
            else:
                engine.model = PeftModel.from_pretrained(
                    engine.model, final, adapter_name=key, is_trainable=False
                )
                engine.model.eval()
                engine.mixed_adapters = True

        try:
            engine.call(attach)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise TunesmithError(f"{run_dir}: cannot load the adapter ({exc})") from None
        return ServedModel(name, "lora", engine, key, _now(), run_dir)

    def _notes(self, run_dir: Path) -> NoteIndex | None:
        """The run's answer notes, ranked as `load_run` ranks them (eval and chat)."""
        from tunesmith.train.runfolder import RunFolder

        notes = load_notes(run_dir / "final")
        if notes is None or not len(notes):
            return notes
        config = RunFolder(run_dir).config()
        settings = config.data.notes
        if settings.rerank_weight > 0:
            scorer = self._scorer(config.model.name)
            notes.use_reranker(scorer, settings.rerank_weight, settings.rerank_pool)
        return notes

    def _scorer(self, base: str) -> Any:
        """The base model's query likelihood, from a copy of the base kept for it alone: the
        served base runs in the engine's thread with adapters switched per row, which a
        request thread must not touch."""
        if base not in self._scorers:
            from tunesmith.models.scoring import query_likelihood

            loaded = load_model(ModelConfig(name=base, dtype=self.dtype), device=self.device)
            self._scorers[base] = query_likelihood(loaded.model.eval(), loaded.tokenizer)
        return self._scorers[base]

    def _load_apart(self, name: str, run_dir: Path, method: str) -> ServedModel:
        run = load_run(run_dir, device=self.device, dtype=self.dtype, with_notes=False)
        engine = self._engine(run.model, run.tokenizer, name)
        return ServedModel(name, method, engine, None, _now(), run_dir)


def default_name(source: Any) -> str:
    """The base model's public name: its registered name, or its folder's name."""
    if source.kind == "folder":
        return Path(source.path).name
    return str(source.name)


def context_length(model: Any, tokenizer: Any) -> int:
    """The most tokens (prompt plus completion) the model takes."""
    config = getattr(model, "config", None)
    length = getattr(config, "max_position_embeddings", None)
    if isinstance(length, int) and length > 0:
        return length
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else DEFAULT_CONTEXT


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidName(
            f"invalid model name {name!r}",
            hint="use 1-128 letters, digits and . _ : @ + -, starting with a letter or digit",
        )


def _read_run(run_dir: Path) -> tuple[str, dict[str, Any]]:
    """The run's method and record; refuse folders that are not finished runs."""
    if not is_run_dir(run_dir):
        raise UsageError(
            f"{run_dir} is not a run folder (no run.json and config.yaml)",
            hint="pass the folder `tunesmith train` wrote",
        )
    record = _read_json(run_dir / "run.json")
    method_file = run_dir / "final" / "method.json"
    if not method_file.is_file():
        raise TunesmithError(
            f"run {run_dir.name} has no final model (status {record.get('status')})",
            hint=f"finish it with `tunesmith train --resume {run_dir}`",
        )
    return str(_read_json(method_file).get("method")), record


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TunesmithError(f"{path}: cannot read it ({exc})") from None
    return data if isinstance(data, dict) else {}


def _now() -> int:
    return int(time.time())
