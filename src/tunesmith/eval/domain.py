"""Domain evaluation: did the model learn the company's facts and voice?

`load_eval_items` reads held-out questions; `evaluate_domain` scores a model on them twice:

- Teacher-forced on the reference answers (no generation): loss and perplexity of the reference
  given the question, rendered with the model's chat template exactly as in training (only the
  final assistant turn is scored, end-of-turn token included), and token accuracy (the greedy
  next token equals the reference token). Loss is the summed token NLL over all items divided by
  the number of scored tokens, so long answers weigh by their length, as in training.
- Generated answers (batched greedy decoding with a token cap): key-fact recall and all-facts
  accuracy on in-scope items, similarity to the reference, the redirect rate on out-of-scope
  items, the glossary's terminology and sign-off rules on every answer, and the stop rate.

Aggregates (see `DomainReport.summary`): `key_fact_recall` is the share of all in-scope key
facts found (pooled over items); `all_facts_accuracy` the share of in-scope items with key facts
whose facts were all found; `similarity` and `rouge_l` are means over in-scope items (out-of-
scope answers are judged by `redirect_rate` instead); glossary rates cover every answer. A
metric with nothing to measure (no out-of-scope items, no glossary) is None, not 0.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.data.notes import NoteIndex
from tunesmith.data.readers import detect_format, read_examples
from tunesmith.data.types import IGNORE_INDEX, Conversation, Message, TokenizedExample
from tunesmith.errors import DataError, UsageError
from tunesmith.eval import metrics
from tunesmith.eval.generation import chat_replies
from tunesmith.eval.glossary import Glossary

EVAL_FORMAT_HINT = (
    'one JSON object per line: {"id": "...", "question": "...", "reference": "...", '
    '"key_facts": ["..."], "fact_ids": ["..."], "out_of_scope": false}'
)
_FIRST_PROBLEMS = 5
# Tokens per teacher-forced forward pass: bounds the logits tensor (tokens x vocabulary x 4
# bytes, about 200 MB for a 49k vocabulary) whatever the batch size.
LOSS_TOKEN_BUDGET = 1024

# Headline metrics and which way is better (None: a count or a cost, not a quality).
HEADLINE: dict[str, str | None] = {
    "key_fact_recall": "higher",
    "all_facts_accuracy": "higher",
    "similarity": "higher",
    "rouge_l": "higher",
    "redirect_rate": "higher",
    "banned_term_rate": "lower",
    "adherence": "higher",
    "preferred_rate": "higher",
    "sign_off_rate": "higher",
    "stop_rate": "higher",
    "val_loss": "lower",
    "perplexity": "lower",
    "token_accuracy": "higher",
    "n_in_scope": None,
    "n_out_of_scope": None,
    "generation_seconds": None,
}


@dataclass(frozen=True)
class EvalItem:
    """One held-out question: the conversation to answer and what a good answer holds."""

    id: str
    messages: tuple[Message, ...]  # the conversation up to the answer; the last is the user's
    reference: str
    key_facts: tuple[str, ...] = ()
    fact_ids: tuple[str, ...] = ()
    out_of_scope: bool = False
    source: str = ""
    line: int = 0

    @property
    def question(self) -> str:
        """The last user message."""
        return next(m.content for m in reversed(self.messages) if m.role == "user")

    def prompt(self, system_prompt: str | None = None) -> tuple[Message, ...]:
        """The messages to answer, with `system_prompt` first when the item has none."""
        if system_prompt and not any(m.role == "system" for m in self.messages):
            return (Message("system", system_prompt), *self.messages)
        return self.messages


@dataclass
class ItemResult:
    """What happened on one item, for reports."""

    id: str
    question: str
    answer: str
    reference: str
    out_of_scope: bool
    key_facts: list[str]
    facts_found: list[bool]
    all_facts: bool | None  # None: out of scope, or no key facts
    redirect: bool | None  # None: in scope
    similarity: float
    rouge_l: float
    stopped: bool
    new_tokens: int
    loss: float | None  # mean NLL per reference token
    trained_tokens: int
    correct_tokens: int
    banned_used: list[str] = field(default_factory=list)
    replaced_terms_used: list[str] = field(default_factory=list)
    preferred_used: list[str] = field(default_factory=list)
    signed_off: bool | None = None  # None: the glossary has no sign-off (or no glossary)


@dataclass
class DomainReport:
    """Per-item results plus how they were produced; `summary()` gives the headline numbers."""

    items: list[ItemResult]
    similarity_method: str
    generation_seconds: float
    loss_seconds: float
    nll_sum: float
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float | int | None]:
        """Headline metrics (keys of HEADLINE); None where there is nothing to measure."""
        in_scope = [r for r in self.items if not r.out_of_scope]
        out_scope = [r for r in self.items if r.out_of_scope]
        tokens = sum(r.trained_tokens for r in self.items)
        loss = self.nll_sum / tokens if tokens else None
        values = {
            **_fact_metrics(in_scope),
            "redirect_rate": _rate(out_scope, lambda r: bool(r.redirect)),
            **_voice_metrics(self.items, self.settings),
            "stop_rate": metrics.stop_rate(self.items),
            "val_loss": loss,
            "perplexity": metrics.perplexity(loss),
            "token_accuracy": metrics.share(sum(r.correct_tokens for r in self.items), tokens),
            "n_in_scope": len(in_scope),
            "n_out_of_scope": len(out_scope),
            "generation_seconds": round(self.generation_seconds, 2),
        }
        return {name: values[name] for name in HEADLINE}

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values: summary, settings and per-item records."""
        return {
            "summary": self.summary(),
            "similarity_method": self.similarity_method,
            "generation_seconds": self.generation_seconds,
            "loss_seconds": self.loss_seconds,
            "settings": dict(self.settings),
            "items": [asdict(r) for r in self.items],
        }


def _fact_metrics(in_scope: list[ItemResult]) -> dict[str, float | None]:
    with_facts = [r for r in in_scope if r.key_facts]
    return {
        "key_fact_recall": metrics.share(
            sum(sum(r.facts_found) for r in with_facts), sum(len(r.key_facts) for r in with_facts)
        ),
        "all_facts_accuracy": _rate(with_facts, lambda r: bool(r.all_facts)),
        "similarity": _mean([r.similarity for r in in_scope]),
        "rouge_l": _mean([r.rouge_l for r in in_scope]),
    }


def _voice_metrics(items: list[ItemResult], settings: Mapping[str, Any]) -> dict[str, float | None]:
    if not settings.get("glossary"):
        return dict.fromkeys(("banned_term_rate", "adherence", "preferred_rate", "sign_off_rate"))
    return {
        "banned_term_rate": _rate(items, lambda r: bool(r.banned_used)),
        "adherence": _rate(items, lambda r: not (r.banned_used or r.replaced_terms_used)),
        "preferred_rate": _rate(items, lambda r: bool(r.preferred_used)),
        "sign_off_rate": _rate(items, lambda r: bool(r.signed_off))
        if settings.get("sign_off")
        else None,
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(items: Sequence[ItemResult], test: Callable[[ItemResult], bool]) -> float | None:
    return metrics.share(sum(1 for r in items if test(r)), len(items))


# --- loading --------------------------------------------------------------------------------


def load_eval_items(path: str | Path, fmt: str = "auto") -> list[EvalItem]:
    """Evaluation items from the eval format, or from any chat/QA format the readers know.

    The eval format (JSONL with `question` and `reference`) keeps key facts, fact ids and the
    out-of-scope flag. Other formats (openai, sharegpt, alpaca, csv) give question/reference
    pairs without key facts: the final assistant turn is the reference, the turns before it
    the question. Raises DataError listing malformed items with their line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"eval file {path} does not exist", hint="check the path")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "text":
        raise DataError(
            f"{path}: plain text has no questions and reference answers to evaluate on",
            hint=EVAL_FORMAT_HINT,
        )
    items = _read_eval_format(path) if fmt == "eval" else _from_examples(path, fmt)
    if not items:
        raise DataError(f"{path}: the eval file holds no items", hint=EVAL_FORMAT_HINT)
    return items


def _from_examples(path: Path, fmt: str) -> list[EvalItem]:
    items = []
    for example in read_examples(path, fmt):
        if not isinstance(example, Conversation):
            continue
        last = max(i for i, m in enumerate(example.messages) if m.role == "assistant")
        prompt = example.messages[:last]
        if not any(m.role == "user" for m in prompt):
            raise DataError(f"{path}:{example.line}: no user message before the last answer")
        items.append(
            EvalItem(
                id=f"line-{example.line}",
                messages=tuple(Message(m.role, m.content) for m in prompt),
                reference=example.messages[last].content,
                source=str(path),
                line=example.line,
            )
        )
    return items


def _read_eval_format(path: Path) -> list[EvalItem]:
    items: list[EvalItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, obj, problem in _json_objects(path):
        if problem:
            problems.append(f"line {line}: {problem}")
            continue
        item, found = _eval_item(obj, str(path), line)
        if item is not None and item.id in seen:
            found.append(f"duplicate id {item.id!r} (first on line {seen[item.id]})")
        problems.extend(f"line {line}: {p}" for p in found)
        if item is not None and not found:
            seen[item.id] = line
            items.append(item)
    if problems:
        rest = len(problems) - _FIRST_PROBLEMS
        more = f"; and {rest} more" if rest > 0 else ""
        noun = "problem" if len(problems) == 1 else "problems"
        raise DataError(
            f"{path}: {len(problems)} {noun} in the eval items: "
            f"{'; '.join(problems[:_FIRST_PROBLEMS])}{more}",
            hint=EVAL_FORMAT_HINT,
        )
    return items


def _json_objects(path: Path) -> list[tuple[int, Any, str | None]]:
    """(line, value, problem) per record: JSONL lines, or the elements of a `.json` array."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [(0, None, f"the file is not UTF-8 ({exc.reason})")]
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            return [(exc.lineno, None, f"invalid JSON: {exc.msg}")]
        # Records of an array are numbered by position; the line is not known without a parser.
        return [(i, v, None) for i, v in enumerate(values, start=1)]
    records: list[tuple[int, Any, str | None]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            records.append((number, json.loads(raw), None))
        except json.JSONDecodeError as exc:
            records.append((number, None, f"invalid JSON at column {exc.colno}: {exc.msg}"))
    return records


def _eval_item(obj: Any, source: str, line: int) -> tuple[EvalItem | None, list[str]]:
    if not isinstance(obj, dict):
        return None, ["the record is not a JSON object"]
    problems = [
        f"`{k}` must be non-empty text" for k in ("question", "reference") if not _text(obj.get(k))
    ]
    key_facts = _text_list(obj, "key_facts", problems)
    fact_ids = _text_list(obj, "fact_ids", problems)
    out_of_scope = obj.get("out_of_scope", False)
    if not isinstance(out_of_scope, bool):
        problems.append("`out_of_scope` must be true or false")
    elif out_of_scope and key_facts:
        problems.append("an out-of-scope item has no key facts (its answer is a redirect)")
    raw_id = obj.get("id", f"line-{line}")
    if not (_text(raw_id) or isinstance(raw_id, int)):
        problems.append("`id` must be non-empty text")
    if problems:
        return None, problems
    problems.extend(_fact_problems(key_facts, obj["reference"]))
    item = EvalItem(
        id=str(raw_id),
        messages=(Message("user", obj["question"]),),
        reference=obj["reference"],
        key_facts=tuple(key_facts),
        fact_ids=tuple(fact_ids),
        out_of_scope=out_of_scope,
        source=source,
        line=line,
    )
    return item, problems


def _fact_problems(key_facts: list[str], reference: str) -> list[str]:
    """A key fact the reference itself does not contain could never be found: say so now."""
    problems = []
    for fact in key_facts:
        if not metrics.normalize(fact):
            problems.append(f"key fact {fact!r} has no letters or digits")
        elif not metrics.fact_found(reference, fact):
            problems.append(f"key fact {fact!r} is not in the reference answer")
    return problems


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _text_list(obj: dict[str, Any], key: str, problems: list[str]) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(_text(v) for v in value):
        problems.append(f"`{key}` must be a list of non-empty text")
        return []
    return [v.strip() for v in value]


# --- evaluation -----------------------------------------------------------------------------


def evaluate_domain(
    model: Any,
    tokenizer: Any,
    items: Sequence[EvalItem],
    *,
    glossary: Glossary | None = None,
    max_new_tokens: int = 160,
    batch_size: int = 16,
    system_prompt: str | None = None,
    similarity: metrics.SimilarityMethod = "auto",
    notes: NoteIndex | None = None,
) -> DomainReport:
    """Score the model on the items: reference loss, then generated answers (see module doc).

    With `notes` (a run's answer notes) every question is shown its closest training answers,
    as `chat` and `serve` show them.
    """
    if not items:
        raise UsageError("no evaluation items to score")
    if notes is not None:
        annotated = notes.annotate_all([item.prompt(system_prompt) for item in items])
        items = [
            dataclasses.replace(item, messages=messages)
            for item, messages in zip(items, annotated, strict=True)
        ]
    started = time.perf_counter()
    scored = reference_scores(model, tokenizer, items, system_prompt=system_prompt)
    loss_seconds = time.perf_counter() - started

    conversations = [_chat(item.prompt(system_prompt)) for item in items]
    started = time.perf_counter()
    replies = chat_replies(
        model, tokenizer, conversations, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    generation_seconds = time.perf_counter() - started

    answers = [reply.text for reply in replies]
    method = metrics.similarity_method(similarity)
    similarities = metrics.answer_similarities(answers, [i.reference for i in items], method=method)
    results = [
        _item_result(item, reply, score, sim, glossary)
        for item, reply, score, sim in zip(items, replies, scored, similarities, strict=True)
    ]
    settings = {
        # Greedy answers differ slightly between float32 and bfloat16: compare like with like.
        "dtype": _dtype_name(model),
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "system_prompt": system_prompt,
        "glossary": glossary.source if glossary else None,
        "sign_off": glossary.sign_off if glossary else None,
        "notes": notes.count if notes is not None else None,
        "notes_rerank_weight": notes.rerank_weight if notes is not None else None,
        "notes_scope_guard": _scope_counts(notes, items),
    }
    return DomainReport(
        items=results,
        similarity_method=method,
        generation_seconds=generation_seconds,
        loss_seconds=loss_seconds,
        nll_sum=sum(s.nll_sum for s in scored),
        settings=settings,
    )


def _scope_counts(notes: NoteIndex | None, items: Sequence[EvalItem]) -> dict[str, int] | None:
    """How many in-scope and out-of-scope items the notes' scope guard declined."""
    if notes is None or notes.guard is None:
        return None
    declined = notes.declines([item.question for item in items])
    inside = sum(d for d, item in zip(declined, items, strict=True) if not item.out_of_scope)
    return {"declined_in_scope": inside, "declined_out_of_scope": sum(declined) - inside}


def _dtype_name(model: Any) -> str | None:
    dtype = getattr(model, "dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else None


def _chat(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _item_result(
    item: EvalItem, reply: Any, score: ReferenceScore, similarity: float, glossary: Glossary | None
) -> ItemResult:
    answer = reply.text
    found = [] if item.out_of_scope else metrics.facts_found(answer, item.key_facts)
    check = glossary.check(answer) if glossary else None
    return ItemResult(
        id=item.id,
        question=item.question,
        answer=answer,
        reference=item.reference,
        out_of_scope=item.out_of_scope,
        key_facts=list(item.key_facts),
        facts_found=found,
        all_facts=all(found) if found else None,
        redirect=metrics.is_redirect(answer, item.reference) if item.out_of_scope else None,
        similarity=similarity,
        rouge_l=metrics.rouge_l(answer, item.reference),
        stopped=reply.stopped,
        new_tokens=reply.new_tokens,
        loss=score.nll_sum / score.tokens if score.tokens else None,
        trained_tokens=score.tokens,
        correct_tokens=score.correct,
        banned_used=check.banned_used if check else [],
        replaced_terms_used=check.replaced_terms_used if check else [],
        preferred_used=check.preferred_used if check else [],
        signed_off=glossary.signed_off(answer) if glossary else None,
    )


# --- teacher-forced scores on the references -------------------------------------------------


@dataclass(frozen=True)
class ReferenceScore:
    """Summed NLL of the reference tokens, how many there were, how many the model's argmax got."""

    nll_sum: float
    tokens: int
    correct: int


def reference_scores(
    model: Any,
    tokenizer: Any,
    items: Sequence[EvalItem],
    *,
    system_prompt: str | None = None,
    token_budget: int = LOSS_TOKEN_BUDGET,
) -> list[ReferenceScore]:
    """Per-item NLL and token accuracy of the reference answer given the question."""
    examples = [_tokenized(tokenizer, item, system_prompt, model) for item in items]
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    scores: list[ReferenceScore | None] = [None] * len(examples)
    for chunk in _token_batches(order, [len(e.input_ids) for e in examples], token_budget):
        batch = _score_batch(model, tokenizer, [examples[i] for i in chunk])
        for index, score in zip(chunk, batch, strict=True):
            scores[index] = score
    return [s for s in scores if s is not None]


def _tokenized(
    tokenizer: Any, item: EvalItem, system_prompt: str | None, model: Any
) -> TokenizedExample:
    from tunesmith.data.render import tokenize_conversation

    messages = (*item.prompt(system_prompt), Message("assistant", item.reference))
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    conversation = Conversation(messages, source=item.source, line=item.line)
    # Truncating (rather than failing) keeps one overlong reference from stopping the eval;
    # only the last answer is scored, as the model would be asked to produce it.
    example = tokenize_conversation(
        tokenizer, conversation, train_on="last", max_length=limit, overlong="truncate"
    )
    assert example is not None  # "truncate" never drops
    return example


def _token_batches(order: list[int], lengths: list[int], budget: int) -> list[list[int]]:
    """Consecutive runs of `order` whose padded size (count x longest) stays within `budget`."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = max([lengths[i] for i in current] + [lengths[index]])
        if current and longest * (len(current) + 1) > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def _score_batch(
    model: Any, tokenizer: Any, examples: list[TokenizedExample]
) -> list[ReferenceScore]:
    import torch

    width = max(len(e.input_ids) for e in examples)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(examples), width), pad, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1  # right padding: real tokens keep positions 0..n-1
    device = model.device
    with torch.inference_mode():
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        # Position t predicts token t + 1.
        logits, targets = logits[:, :-1].float(), labels[:, 1:].to(device)
        nll = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
        )
        scored = targets != IGNORE_INDEX
        correct = (logits.argmax(dim=-1) == targets) & scored
    return [
        ReferenceScore(
            nll_sum=float(nll[row][scored[row]].sum()),
            tokens=int(scored[row].sum()),
            correct=int(correct[row].sum()),
        )
        for row in range(len(examples))
    ]


# --- base vs tuned ----------------------------------------------------------------------------


def domain_gain(
    base_summary: Mapping[str, Any] | DomainReport, tuned_summary: Mapping[str, Any] | DomainReport
) -> dict[str, dict[str, Any]]:
    """For each headline metric: base, tuned, delta (tuned - base) and whether it improved.

    `better` says which way is good (`higher`, `lower`, or None for counts and timings, whose
    `improved` is None too); a metric missing or None on either side has delta None.
    """
    base, tuned = _summary_of(base_summary), _summary_of(tuned_summary)
    gain = {}
    for name, better in HEADLINE.items():
        b, t = base.get(name), tuned.get(name)
        delta = t - b if _number(b) and _number(t) else None
        improved = None
        if delta is not None and better is not None:
            improved = delta > 0 if better == "higher" else delta < 0
        gain[name] = {"base": b, "tuned": t, "delta": delta, "better": better, "improved": improved}
    return gain


def _summary_of(value: Mapping[str, Any] | DomainReport) -> Mapping[str, Any]:
    return value.summary() if isinstance(value, DomainReport) else value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
