"""Typed configuration: one pydantic model per concern, validated on load.

A config file is YAML with one section per concern (`model`, `data`, `method`, `train`,
`output`). Every field has a description that doubles as help text (`tunesmith config fields`).
Unknown keys, wrong types and out-of-range values are errors that name the key and the allowed
values. The resolved config is saved with every run so the run can be reproduced from its folder.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tunesmith.errors import ConfigError

DEFAULT_MODEL = "smollm2-135m-instruct"


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    """Which pretrained model to start from and how to load it."""

    name: str = Field(
        DEFAULT_MODEL,
        description="Registered name (see `tunesmith models list`), a local Hugging Face folder, "
        "a local .gguf file, or a hub id already in the local Hugging Face cache.",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Weight dtype when loading: auto picks float32 on CPU and bfloat16 on GPUs "
        "that support it.",
    )
    trust_remote_code: bool = Field(
        False,
        description="Run Python code shipped inside the model folder. Off unless you trust the "
        "model's author: that code runs with your permissions.",
    )


class NotesConfig(Section):
    """Answer notes: the closest training answers shown to the model in its system prompt."""

    enabled: bool = Field(
        True,
        description="Keep the training answers as notes: each training conversation sees the "
        "closest answers of other conversations, and chat, serve and eval show a question the "
        "closest answers of all of them. See docs/specialization.md.",
    )
    count: int = Field(4, ge=1, le=16, description="Most notes shown with each question.")
    # Long answers would multiply the cost of every step: the sample company's 4 notes take at
    # most 1,096 characters, while 4 Bitext customer-support answers take about 2,900.
    max_chars: int | None = Field(
        1200,
        ge=100,
        description="Most characters of notes per question; the closest note is always shown, "
        "the next ones while they fit. Empty: no limit.",
    )
    # Off: ranking by the base model's query likelihood put the fact in the first note more
    # often (55.6% -> 64.9% at 0.5) but lowered held-out recall of the default recipe, whose
    # training notes are in embedding order: 61.9% -> 56.5 / 49.8 / 51.0% at 0.2 / 0.5 / 1.0
    # (seed 1: 57.3% -> 49.4% at 0.5; docs/specialization.md, session 10).
    rerank_weight: float = Field(
        0.0,
        ge=0,
        le=10,
        description="At inference (eval, chat, generate, serve), order the closest notes by "
        "embedding cosine + this weight x the base model's query likelihood (the mean "
        "log-probability of the question after the note). 0: embedding only.",
    )
    rerank_pool: int = Field(
        10, ge=1, le=64, description="Closest notes by embedding that the re-ranking orders."
    )
    # 2 passes at lr 1e-4 since session 21 (tunesmith.embedding.RETRIEVER_LR): the fact in the
    # first note for 73.9% of the sample company's held-out facts on average over three
    # shuffles, 69.4% for session 20's 1 pass at 5e-5.
    retriever_epochs: int = Field(
        2,
        ge=0,
        le=10,
        description="Passes that tune a copy of the embedding model on the training questions "
        "against their own answers, so it finds the right note for a question worded "
        "differently; the tuned copy is saved with the run and finds the notes at inference. "
        "0: the base embedding model.",
    )
    # "answer" since session 21: on the sample company the model trained on notes in question
    # order recalled less than a copy of its first note would have (64.0-69.5% against 70.3%
    # over three seeds): it copied the wrong note as often as it rescued a wrong first one.
    # Trained with the note that holds its answer first, it copies the first note, which the
    # retriever ranks best (docs/specialization.md, session 21).
    train_order: Literal["answer", "question"] = Field(
        "answer",
        description="Order of a training conversation's notes (chosen by its question, as at "
        "inference): 'answer' puts first the notes whose answers are closest to the "
        "conversation's own answer, so the model learns to rely on its first note; "
        "'question': by closeness to the question, as at inference.",
    )
    scope_guard: bool = Field(
        True,
        description="Show a question the data would decline (closer to one of its redirect "
        "exchanges, or to a general question outside its scope, than to any question it "
        "answers) the data's redirect answers as notes instead of its closest answers, in "
        "training and at inference (eval, chat, generate, serve). Needs redirect answers in "
        "the data; see docs/specialization.md.",
    )


class OutOfScopeConfig(Section):
    """Out-of-scope examples: general questions answered with the data's own redirects."""

    # On since session 18: with the scope guard in training these examples see redirect notes,
    # and they lifted out-of-scope redirects 70/75/75% -> 90/95/85% (seeds 42, 1, 2) for
    # -2.5 / +1.3 / -11.3 points of key-fact recall (mean -4.2, about one standard error;
    # docs/specialization.md). Without redirect notes they cost 5-12 points and stayed off.
    enabled: bool = Field(
        True,
        description="Add general questions outside the data's scope (medical, legal, coding, "
        "trivia, ...), each answered with the training data's closest redirect answer, so the "
        "model declines in the company's words. Needs redirect answers in the data.",
    )
    share: float = Field(
        0.1, gt=0.0, lt=0.5, description="Share of the training examples they make up, at most."
    )


class DataConfig(Section):
    """The company's training data and how to read it."""

    train: Path | None = Field(None, description="Training file or folder.")
    validation: Path | None = Field(
        None, description="Explicit validation file; when empty a share of `train` is held out."
    )
    eval: Path | None = Field(
        None,
        description="Held-out evaluation file (question, reference, key facts) used by "
        "`tunesmith eval` for this run; never trained on.",
    )
    glossary: Path | None = Field(
        None, description="Glossary YAML (preferred and banned terms, sign-off) for evaluation."
    )
    format: Literal["auto", "openai", "alpaca", "sharegpt", "csv", "text", "eval"] = Field(
        "auto", description="Input format; auto detects it from the file name and content."
    )
    validation_share: float = Field(
        0.1, ge=0.0, lt=1.0, description="Share of the training examples held out for validation."
    )
    max_length: int | None = Field(
        None, gt=0, description="Token limit per example; empty means the model's context length."
    )
    overlong: Literal["error", "truncate", "drop"] = Field(
        "error", description="What to do with examples longer than max_length."
    )
    train_on: Literal["assistant", "all", "last"] = Field(
        "assistant",
        description="Which assistant turns carry loss: all of them, every token, or the last one.",
    )
    pack: bool = Field(True, description="Pack examples into full sequences (no cross-attention).")
    seq_len: int | None = Field(
        None,
        gt=0,
        description="Length of packed training sequences; empty means max_length (or the "
        "model's context length, capped at 2048).",
    )
    question_column: str | None = Field(
        None, description="CSV/TSV question column; empty tries question, prompt, input, ..."
    )
    answer_column: str | None = Field(
        None, description="CSV/TSV answer column; empty tries answer, response, output, ..."
    )
    system_prompt: str | None = Field(
        None, description="System prompt added to examples that have none (CSV, Alpaca, ...)."
    )
    # Off by default: at the same number of steps it lowered held-out key-fact recall on the
    # sample company (10.0% vs 15.1%, docs/specialization.md).
    augment: bool = Field(
        False,
        description="Add variants of each training conversation (other question forms, with "
        "and without the system prompt, as a follow-up turn, the answer as a statement); "
        "answers are never changed. See docs/specialization.md.",
    )
    notes: NotesConfig = Field(default_factory=NotesConfig)
    out_of_scope: OutOfScopeConfig = Field(default_factory=OutOfScopeConfig)
    seed: int = Field(42, ge=0, description="Seed of the train/validation split.")


class LoraConfig(Section):
    """LoRA: small low-rank matrices beside frozen weights."""

    r: int = Field(16, ge=1, le=1024, description="Rank of the low-rank update.")
    alpha: float = Field(32.0, gt=0, description="Scaling numerator: the update is scaled alpha/r.")
    # 0 by default: on CPU the dropout masks cost a third of a LoRA step (measured 3.5 s vs
    # 2.4 s per step on the default model), and the short runs here do not overfit from it.
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    targets: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="Module names to adapt, or all-linear for every linear layer of the blocks.",
    )
    rslora: bool = Field(False, description="Scale by alpha/sqrt(r) (rank-stabilised LoRA).")
    dora: bool = Field(False, description="Weight-decomposed LoRA (DoRA).")


class FreezeConfig(Section):
    """Freeze: lock the pretrained weights except the last blocks."""

    trainable_layers: int | None = Field(
        None,
        ge=1,
        description="How many final transformer blocks train; empty means a third, rounded up.",
    )
    train_norm: bool = Field(True, description="Also train the final normalisation layer.")
    train_head: bool = Field(False, description="Also train the output head (lm_head).")
    patterns: list[str] = Field(
        default_factory=list,
        description="Explicit module name patterns (glob) to train instead of the last blocks.",
    )


class MethodConfig(Section):
    """How to fine-tune: which parameters train."""

    name: Literal["full", "freeze", "lora"] = Field(
        "freeze",
        description="freeze: the last blocks (the default); full: all weights; lora: low-rank "
        "adapters.",
    )
    lora: LoraConfig = Field(default_factory=LoraConfig)
    freeze: FreezeConfig = Field(default_factory=FreezeConfig)


class ReplayConfig(Section):
    """Self-replay: the base model's own text mixed into training to keep its general skills."""

    # 0.2 with the KL targets: on the sample company LAMBADA -2.5 / -1.0 instead of -10.0 / -6.5
    # (seeds 42 / 1) for the same or more key-fact recall (57.3% / 60.3% vs 56.9% / 54.4%),
    # about 25% more steps and a minute of sampling once per model (docs/specialization.md).
    share: float = Field(
        0.2,
        ge=0.0,
        le=0.5,
        description="Share of training examples that are the base model's own samples; 0 = off.",
    )
    max_tokens: int = Field(128, ge=8, le=1024, description="Length cap of each sample, in tokens.")
    temperature: float = Field(1.0, gt=0, le=2.0, description="Sampling temperature.")
    targets: Literal["tokens", "distribution"] = Field(
        "distribution",
        description="distribution: learn the base model's next-token probabilities on its "
        "samples (KL divergence), which only resists drift; tokens: learn the sampled tokens.",
    )
    top_k: int = Field(
        64,
        ge=1,
        le=4096,
        description="With targets=distribution: the base model's most likely tokens kept per "
        "position; the rest of its probability counts as one more outcome.",
    )


class TrainConfig(Section):
    """The optimisation loop."""

    lr: float | None = Field(
        None, gt=0, lt=1, description="Peak learning rate; empty means the method's default."
    )
    # 3 with answer notes on (the default): 59.8-61.9% held-out recall on the sample company in
    # about 5 minutes on 2 cores; 5 epochs took 8 minutes and recalled less (56.9%), with more
    # forgetting (docs/specialization.md).
    epochs: float = Field(3.0, gt=0, le=1000, description="Passes over the training data.")
    max_steps: int | None = Field(
        None, ge=1, description="Cap on optimizer steps, for quick checks; overrides epochs."
    )
    batch_size: int = Field(8, ge=1, le=4096, description="Examples per optimizer step.")
    grad_accum: int = Field(1, ge=1, le=4096, description="Micro-batches accumulated per step.")
    warmup_ratio: float = Field(0.05, ge=0.0, le=0.5, description="Share of steps warming up.")
    schedule: Literal["cosine", "linear", "constant"] = Field(
        "cosine", description="Learning-rate decay after warm-up."
    )
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW weight decay.")
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Gradient clipping norm; empty disables clipping."
    )
    neftune_alpha: float | None = Field(
        None, gt=0, le=100, description="Noise on input embeddings while training (NEFTune)."
    )
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    seed: int = Field(42, ge=0, description="Seed for data order, initialisation and dropout.")
    eval_every: int = Field(50, ge=1, description="Validation loss every N optimizer steps.")
    save_every: int = Field(100, ge=1, description="Checkpoint every N optimizer steps.")
    keep_checkpoints: int = Field(2, ge=1, description="How many recent checkpoints to keep.")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="Stop after N validations without improvement; empty disables."
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Compute precision; auto uses bf16 where the hardware supports it."
    )
    # The default recipe (freeze, 3 epochs) spends a third of each step in the frozen blocks;
    # keeping their output from the first epoch removes that from the later ones
    # (tunesmith.train.prefix). Northpeak with notes needs about 200 MB in fp32.
    prefix_cache_mb: int = Field(
        2048,
        ge=0,
        description="Memory for the frozen blocks' output per example, reused after the first "
        "epoch instead of recomputed (freeze); 0 turns it off.",
    )
    compile: Literal["off", "on"] = Field(
        "off",
        description="Regional torch.compile of every block's MLP and norms (needs a C++ "
        "compiler); off by default: measured 5-7% faster steps against about 30 s of "
        "compiling and recompiling (docs/performance.md).",
    )

    @field_validator("compile", mode="before")
    @classmethod
    def _yaml_switch(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `on` / `off` as a boolean; take it as the switch it means.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value


class OutputConfig(Section):
    """Where runs are written."""

    dir: Path = Field(Path("runs"), description="Folder that holds run folders.")
    name: str | None = Field(None, description="Run folder name; empty means a timestamped name.")


class TunesmithConfig(Section):
    """A whole job: model, data, method, training and output."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)


def load_config(
    path: Path | str | None = None, overrides: list[str] | None = None
) -> TunesmithConfig:
    """Read a YAML config (or the defaults), apply `section.key=value` overrides, validate."""
    source = str(path) if path is not None else "defaults"
    raw: dict[str, Any] = _read_yaml(Path(path)) if path is not None else {}
    for override in overrides or []:
        _apply_override(raw, override)
    return validate_config(raw, source=source)


def validate_config(raw: dict[str, Any], *, source: str = "config") -> TunesmithConfig:
    """Validate a config mapping, turning pydantic errors into one readable ConfigError."""
    try:
        return TunesmithConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe_error(err) for err in exc.errors()]
        raise ConfigError(
            f"{source}: " + "; ".join(lines),
            hint="see `tunesmith config fields` for every key, its type and allowed values",
        ) from None


def save_config(config: TunesmithConfig, path: Path) -> None:
    """Write the resolved config as YAML (paths as strings) so a run can be reproduced."""
    data = config.model_dump(mode="json")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def parse_override(override: str) -> tuple[list[str], Any]:
    """Split `section.key=value` into its key path and a YAML-typed value."""
    key, sep, value = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"--set {override!r}: expected section.key=value",
            hint="for example --set train.lr=1e-4",
        )
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.split("."), parsed


def field_help() -> list[dict[str, str]]:
    """Every config key with its type, default and description, for help output."""
    rows: list[dict[str, str]] = []
    _collect_fields(TunesmithConfig, "", rows)
    return rows


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist", hint="check the path")
    if path.is_dir():
        raise ConfigError(f"config path {path} is a folder", hint="pass a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason})", hint="save it as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}", hint="fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections",
            hint="start with `model:`, `data:`, `method:`, `train:` or `output:`",
        )
    return data


def _apply_override(raw: dict[str, Any], override: str) -> None:
    keys, value = parse_override(override)
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            dotted = ".".join(keys[: depth + 1])
            raise ConfigError(f"--set {override!r}: {dotted} is a value, not a section")
        node = child
    node[keys[-1]] = value


def _describe_error(err: Any) -> str:
    loc = [str(part) for part in err["loc"]]
    dotted = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        suggestion = difflib.get_close_matches(loc[-1], allowed, n=1)
        guess = f"; did you mean {suggestion[0]!r}?" if suggestion else ""
        return f"unknown key {dotted!r}{guess} allowed here: {', '.join(allowed)}"
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, dict) else ""
    return f"{dotted}: {err['msg']}{shown}"


def _allowed_keys(section_path: list[str]) -> list[str]:
    model: type[BaseModel] = TunesmithConfig
    for key in section_path:
        annotation = model.model_fields[key].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _collect_fields(model: type[BaseModel], prefix: str, rows: list[dict[str, str]]) -> None:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        key = f"{prefix}{name}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _collect_fields(annotation, f"{key}.", rows)
            continue
        default = info.get_default(call_default_factory=True)
        rows.append(
            {
                "key": key,
                "type": _type_name(annotation),
                "default": "" if default is None else str(default),
                "help": info.description or "",
            }
        )


def _type_name(annotation: Any) -> str:
    text = repr(annotation)
    for noise in ("typing.", "pathlib.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text
