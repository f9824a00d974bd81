"""Log-likelihood of text under a causal language model, scored the lm-eval way.

A (context, continuation) pair's score is the sum of the log-probabilities of the
continuation's tokens given the context (natural log, float32), and whether every one of them
is the model's greedy prediction. Benchmarks (eval/general.py) and the notes' re-ranker
(`query_likelihood`) both score through here.

Tokenization follows lm-eval: trailing whitespace of the context moves to the continuation,
context + continuation is encoded whole and split at the context's own token count.

Speed on a CPU: pairs are grouped into rows, sorted by length and right-padded into batches;
one forward pass per batch, no KV cache, and log-probabilities only at continuation positions.
Pairs with the same context share one row ("context sharing"): each continuation attends to
the context and to itself only, through a 4D attention mask and its own position ids, which
computes exactly what separate rows would with the context run once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tunesmith.errors import TunesmithError

DEFAULT_MAX_LENGTH = 2048
# One forward pass holds (rows x longest row) positions of logits over the whole vocabulary:
# 2,048 positions of a 49k vocabulary is 400 MB of float32, so batches stop there.
MAX_BATCH_TOKENS = 2048
# Attention implementations that honour a custom 4D mask; others score each pair separately.
MASKED_ATTENTION = ("sdpa", "eager")

Request = tuple[list[int], list[int]]  # (context token ids, continuation token ids)


@dataclass(frozen=True)
class Score:
    """A continuation's log-likelihood given its context."""

    logprob: float  # sum over the continuation's tokens, natural log
    greedy: bool  # every continuation token is the model's most likely next token
    tokens: int


@dataclass
class _Row:
    """One sequence of a batch: a context followed by one or more continuations."""

    tokens: list[int]
    context: int  # length of the context at the start of `tokens`
    # (request index, start in `tokens`, length) of each continuation
    segments: list[tuple[int, int, int]] = field(default_factory=list)


def encode_pair(tokenizer: Any, context: str, continuation: str) -> Request:
    """Token ids of a context and its continuation, split the way lm-eval splits them."""
    return encode_pairs(tokenizer, [(context, continuation)])[0]


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]]) -> list[Request]:
    """lm-eval's split: trailing whitespace of the context moves to the continuation; the
    continuation's ids are what encoding context + continuation adds after the context's ids.
    An empty context becomes the prefix token (BOS, else EOS)."""
    moved = [_move_space(context, continuation) for context, continuation in pairs]
    contexts = encode_texts(tokenizer, [context for context, _ in moved])
    wholes = encode_texts(tokenizer, [context + continuation for context, continuation in moved])
    requests = []
    for (context, continuation), ctx, whole in zip(moved, contexts, wholes, strict=True):
        cont = whole[len(ctx) :]
        if not context:
            ctx, cont = [prefix_token(tokenizer)], whole
        if not cont:  # the split merged everything into the context's tokens
            cont = encode_texts(tokenizer, [continuation])[0]
        requests.append((ctx, cont))
    return requests


def score_pairs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 32,
    share_context: bool = True,
) -> list[Score]:
    """Score (context, continuation) text pairs; see `score_requests`."""
    requests = encode_pairs(tokenizer, pairs)
    return score_requests(
        model,
        requests,
        batch_size=batch_size,
        pad_id=pad_token_id(tokenizer),
        share_context=share_context,
    )


def score_requests(
    model: Any,
    requests: Sequence[Request],
    *,
    batch_size: int = 32,
    pad_id: int = 0,
    share_context: bool = True,
    max_length: int | None = None,
) -> list[Score]:
    """Log-likelihood of each continuation given its context, in input order.

    Requests with the same context share one row when `share_context` is on and the model's
    attention honours a 4D mask; every row fits `max_length` tokens (the model's limit, at
    most 2,048) by dropping context from the left, as lm-eval does.
    """
    limit = model_max_length(model, max_length)
    share = share_context and _supports_masks(model)
    rows = sorted(_rows(requests, limit, share), key=lambda row: -len(row.tokens))
    scores: list[Score | None] = [None] * len(requests)
    with evaluating(model):
        for batch in _batches(rows, batch_size):
            for index, score in _score_batch(model, batch, pad_id).items():
                scores[index] = score
    assert all(score is not None for score in scores)  # every request sits in exactly one row
    return scores  # type: ignore[return-value]


def _rows(requests: Sequence[Request], limit: int, share: bool) -> list[_Row]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (context, continuation) in enumerate(requests):
        if not continuation:
            raise TunesmithError("a continuation has no tokens to score")
        key = tuple(context) if share else (index,)
        groups.setdefault(key, []).append(index)
    rows = []
    for members in groups.values():
        context = list(requests[members[0]][0])
        total = len(context) + sum(len(requests[i][1]) for i in members)
        if len(members) > 1 and total <= limit:
            row = _Row(context, len(context))
            for index in members:
                continuation = requests[index][1]
                row.segments.append((index, len(row.tokens), len(continuation)))
                row.tokens.extend(continuation)
            rows.append(row)
        else:
            rows.extend(_single_row(requests[i], i, limit) for i in members)
    return rows


def _single_row(request: Request, index: int, limit: int) -> _Row:
    context, continuation = request
    if len(continuation) >= limit:
        raise TunesmithError(
            f"a continuation of {len(continuation)} tokens does not fit the {limit}-token window"
        )
    context = list(context)[-(limit - len(continuation)) :]  # keep the end of the context
    return _Row(
        context + list(continuation), len(context), [(index, len(context), len(continuation))]
    )


def _batches(rows: list[_Row], batch_size: int) -> Iterator[list[_Row]]:
    """Consecutive rows (longest first), at most batch_size rows and MAX_BATCH_TOKENS padded."""
    batch: list[_Row] = []
    for row in rows:
        longest = len(batch[0].tokens) if batch else len(row.tokens)
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * longest > MAX_BATCH_TOKENS):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def _score_batch(model: Any, rows: list[_Row], pad_id: int) -> dict[int, Score]:
    import torch

    length = max(len(row.tokens) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    where, targets, owners = [], [], []  # per continuation token: (row, position predicting it)
    for b, row in enumerate(rows):
        ids[b, : len(row.tokens)] = torch.tensor(row.tokens)
        for index, start, count in row.segments:
            for t in range(count):
                # The first token is predicted at the context's last position, the rest at
                # the previous continuation token.
                where.append((b, row.context - 1 if t == 0 else start + t - 1))
                targets.append(row.tokens[start + t])
                owners.append(index)
    first = min(position for _, position in where)
    extra = _tree_inputs(rows, length, _dtype(model)) if _is_shared(rows) else {}
    logits = _forward(model, ids, length - first, extra)
    offset = length - logits.shape[1]  # logits cover only the last positions
    batch_index = torch.tensor([b for b, _ in where])
    positions = torch.tensor([p - offset for _, p in where])
    picked = logits[batch_index.to(logits.device), positions.to(logits.device)].float().cpu()
    target = torch.tensor(targets)
    # log_softmax gathered at the targets, without materialising the full log_softmax.
    logprobs = picked.gather(1, target[:, None]).squeeze(1) - torch.logsumexp(picked, dim=-1)
    hits = picked.argmax(dim=-1) == target
    return _collect(owners, logprobs.tolist(), hits.tolist())


def _collect(owners: list[int], logprobs: list[float], hits: list[bool]) -> dict[int, Score]:
    sums: dict[int, list[Any]] = {}
    for owner, logprob, hit in zip(owners, logprobs, hits, strict=True):
        total = sums.setdefault(owner, [0.0, True, 0])
        total[0] += logprob
        total[1] = total[1] and hit
        total[2] += 1
    return {owner: Score(lp, greedy, count) for owner, (lp, greedy, count) in sums.items()}


def _is_shared(rows: list[_Row]) -> bool:
    return any(len(row.segments) > 1 for row in rows)


def _tree_inputs(rows: list[_Row], length: int, dtype: Any) -> dict[str, Any]:
    """A 4D additive mask and position ids: each continuation sees the context and itself.

    Padding positions see themselves only, so no softmax row is empty (that would give NaN).
    """
    import torch

    segment = torch.full((len(rows), length), -1, dtype=torch.long)
    position = torch.zeros((len(rows), length), dtype=torch.long)
    for b, row in enumerate(rows):
        segment[b, : row.context] = 0
        position[b, : row.context] = torch.arange(row.context)
        for number, (_, start, count) in enumerate(row.segments, start=1):
            segment[b, start : start + count] = number
            position[b, start : start + count] = torch.arange(row.context, row.context + count)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    same = segment[:, :, None] == segment[:, None, :]
    context_key = (segment == 0)[:, None, :]
    real = (segment >= 0)[:, :, None]
    allowed = causal & (same | context_key) & real
    allowed |= torch.eye(length, dtype=torch.bool)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return {"attention_mask": mask[:, None], "position_ids": position}


def _forward(model: Any, ids: Any, keep: int, extra: dict[str, Any]) -> Any:
    """Logits of the last `keep` positions (all positions for models that ignore that)."""
    import torch

    device = _device(model)
    inputs = {"input_ids": ids.to(device), **{k: v.to(device) for k, v in extra.items()}}
    with torch.inference_mode():
        try:
            return model(**inputs, use_cache=False, logits_to_keep=keep).logits
        except TypeError:  # a model without `logits_to_keep`
            return model(**inputs, use_cache=False).logits


@contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Eval mode (no dropout, LoRA dropout included) for the duration, then as it was."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _supports_masks(model: Any) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) in MASKED_ATTENTION


def model_max_length(model: Any, max_length: int | None) -> int:
    limit = max_length or DEFAULT_MAX_LENGTH
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return min(limit, positions) if isinstance(positions, int) else limit


def _device(model: Any) -> Any:
    device = getattr(model, "device", None)
    return device if device is not None else next(model.parameters()).device


def _dtype(model: Any) -> Any:
    return model.get_input_embeddings().weight.dtype


def encode_texts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    # No special tokens: lm-eval's default for causal models, and the chat template is not
    # used either; these are plain-text completions.
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def _move_space(context: str, continuation: str) -> tuple[str, str]:
    spaces = len(context) - len(context.rstrip())
    if spaces:
        return context[:-spaces], context[-spaces:] + continuation
    return context, continuation


def prefix_token(tokenizer: Any) -> int:
    if tokenizer.bos_token_id is not None:
        return tokenizer.bos_token_id
    return tokenizer.eos_token_id


def pad_token_id(tokenizer: Any) -> int:
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return token_id
    return 0


# ---------------------------------------------------------------------------------------------
# Query likelihood: ranks a run's answer notes (data/notes.py). The note after which the model
# finds the question most likely tends to be the one that answers it, a signal a sentence
# embedding misses (docs/specialization.md, "Ranking the notes").

# How each candidate is shown before the question: the notes' own "Q: ... / A: ..." form, then
# the start of the next exchange. The measured gains used exactly this form.
QUERY_SEPARATOR = "\n\nQ:"
# Candidates scored in one forward pass; bounds the padded batch's memory.
QUERY_BATCH = 16


def query_likelihood(model: Any, tokenizer: Any) -> Callable[[str, Sequence[str]], list[float]]:
    """A scorer: mean log-probability of the question's tokens after each candidate text."""

    def score(question: str, candidates: Sequence[str]) -> list[float]:
        if not question.strip():
            return [0.0] * len(candidates)
        pairs = [(text + QUERY_SEPARATOR, " " + question.strip()) for text in candidates]
        scores = score_pairs(model, tokenizer, pairs, batch_size=QUERY_BATCH)
        return [score.logprob / score.tokens for score in scores]

    return score
