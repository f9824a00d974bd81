"""How often the answer notes hold a held-out question's key facts, by ranking (no training).

For each in-scope question of the sample company's evaluation file: the share of its key facts
found in the first 1..4 notes, as `tunesmith.data.notes` ranks them (all-MiniLM-L6-v2 cosine of
question vs question + answer), and re-ranked: the top `--pool` candidates scored by cosine +
w x the mean log-probability a language model gives the question after the note ("query
likelihood"). The retrieval ceiling of the answer notes and the lead for ranking them
(docs/specialization.md, "Ranking the notes"). A second row ranks by session 12's focus
ranking (`focus_ranking`), which the product tried and dropped. Then, for each of
`--retriever-epochs` x `--retriever-lrs` x `--retriever-seeds` (the shuffle), the product's
tuned retriever (`data.notes.retriever_epochs`, `tunesmith.embedding.tune_retriever`): a copy of
the embedding model tuned on the training questions against their own answers (sessions 20-21).

    python benchmarks/notes_retrieval.py --retriever-epochs 1,2 --retriever-lrs 5e-5,1e-4 \
        --retriever-seeds 0,1,2                                 # session 21's sweep, ~10 min

    python benchmarks/notes_retrieval.py                        # cosine only, seconds
    python benchmarks/notes_retrieval.py --rerank --weights 0.2,0.5   # + base model, ~5 min
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "northpeak"
POSITIONS = 4
BITEXT = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
# Training sample as in benchmarks/specialization.py; more held-out questions than its 60,
# since ranking needs no training and a larger sample resolves smaller differences.
BITEXT_TRAIN, BITEXT_HELD = 300, 300
FOCUS_RANKING = "best of exchange / question / answer keys + 0.5 x focus sentence (not shipped)"
FOCUS_WEIGHT = 0.5


def facts_within(
    rankings: Sequence[Sequence[str]], key_facts: Sequence[Sequence[str]]
) -> list[float]:
    """Share of all key facts present in the first 1..POSITIONS note texts of each ranking."""
    from tunesmith.eval.metrics import facts_found

    found = [0] * POSITIONS
    total = 0
    for texts, facts in zip(rankings, key_facts, strict=True):
        for fact in facts:
            total += 1
            first = next(
                (k for k, text in enumerate(texts[:POSITIONS]) if facts_found(text, [fact])[0]),
                None,
            )
            for k in range(POSITIONS):
                found[k] += first is not None and first <= k
    return [count / max(total, 1) for count in found]


def intents_within(
    rankings: Sequence[Sequence[str]], intents: Sequence[str], intent_of: dict[str, str]
) -> list[float]:
    """Share of questions with a note of their own intent in the first 1..POSITIONS notes."""
    found = [0] * POSITIONS
    for texts, intent in zip(rankings, intents, strict=True):
        first = next((k for k, t in enumerate(texts[:POSITIONS]) if intent_of[t] == intent), None)
        for k in range(POSITIONS):
            found[k] += first is not None and first <= k
    return [count / max(len(intents), 1) for count in found]


def focus_ranking(index: Any, questions: Sequence[str]) -> list[list[str]]:
    """Session 12's candidate ranking, kept here to reproduce docs/specialization.md.

    Each note matched on its exchange, its question and its answer (the best cosine counts),
    plus FOCUS_WEIGHT x the exchange's cosine with the question's last sentence that asks
    something. It puts the fact in the first note more often (55.6% -> 66.5% on the sample,
    intent 89.0 -> 92.0% on Bitext) but lowered end-to-end recall, so the product does not use it.
    """
    import torch

    from tunesmith.embedding import embed

    def focus(question: str) -> str:
        sentences = [p for p in re.split(r"(?<=[.!?])\s+", question.strip()) if p]
        return next((p for p in reversed(sentences) if p.endswith("?")), sentences[-1])

    query = embed(list(questions))
    scores = query @ index.vectors.T
    for keys in ([n.question for n in index.notes], [n.answer for n in index.notes]):
        scores = torch.maximum(scores, query @ embed(keys).T)
    scores = scores + FOCUS_WEIGHT * (embed([focus(q) for q in questions]) @ index.vectors.T)
    rankings = []
    for row in scores:
        picked = index._distinct(row.argsort(descending=True).tolist(), None, index.count)
        rankings.append([index.notes[i].text for i in picked])
    return rankings


def query_likelihood(model_ref: str) -> Callable[[str, Sequence[str]], list[float]]:
    """The product's query-likelihood scorer (tunesmith.models.scoring) for a model or run."""
    from tunesmith.models import inference_device
    from tunesmith.models.scoring import query_likelihood as scorer
    from tunesmith.train.artifacts import load_run_or_model

    loaded = load_run_or_model(model_ref, device=inference_device(), with_notes=False)
    return scorer(loaded.model.eval(), loaded.tokenizer)


def main(argv: list[str] | None = None) -> int:
    from tunesmith.embedding import RETRIEVER_LR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("northpeak", "bitext"), default="northpeak")
    parser.add_argument("--data", type=Path, default=SAMPLE, help="Folder with train/eval.jsonl.")
    parser.add_argument("--rerank", action="store_true", help="Also re-rank with --model.")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="Model, or a run.")
    parser.add_argument("--pool", type=int, default=10, help="Candidates re-ranked.")
    parser.add_argument("--weights", default="0.2,0.5", help="Weights of the likelihood.")
    parser.add_argument(
        "--retriever-epochs", default="2", help="Passes of the tuned retriever's rows (0: none)."
    )
    parser.add_argument("--retriever-lrs", default=str(RETRIEVER_LR), help="Its learning rates.")
    parser.add_argument("--retriever-seeds", default="0", help="Its shuffles (comma-separated).")
    parser.add_argument("--limit", type=int, default=0, help="First N questions only (0: all).")
    parser.add_argument("--out", type=Path, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)

    from tunesmith.config import NotesConfig
    from tunesmith.data.notes import build_index

    train_intents: list[str] = []
    if args.dataset == "northpeak":
        train, questions, targets = _northpeak(args.data)
    else:
        train, train_intents, questions, targets = _bitext(BITEXT_TRAIN, BITEXT_HELD)
    if args.limit:
        questions, targets = questions[: args.limit], targets[: args.limit]
    index = build_index(train, count=args.pool)
    if args.dataset == "northpeak":
        within = facts_within
        unit = f"{sum(len(f) for f in targets)} key facts; share within the first k notes"
    else:
        intent_of = {n.text: train_intents[n.source] for n in index.notes}
        within = lambda r, t: intents_within(r, t, intent_of)  # noqa: E731
        unit = "share with a note of the question's own intent within the first k notes"
    candidates = index.closest(questions)  # closest first, distinct answers, `pool` of them
    rows: list[dict[str, Any]] = [
        {"ranking": "cosine, base model", "within": within(candidates, targets)},
        {"ranking": FOCUS_RANKING, "within": within(focus_ranking(index, questions), targets)},
    ]
    shipped = (NotesConfig().retriever_epochs, RETRIEVER_LR, 0)
    for setting in itertools.product(
        [int(e) for e in args.retriever_epochs.split(",") if int(e) > 0],
        [float(lr) for lr in args.retriever_lrs.split(",")],
        [int(seed) for seed in args.retriever_seeds.split(",")],
    ):
        tuned = _tuned_index(index, *setting)
        epochs, lr, seed = setting
        name = f"tuned retriever, {epochs} pass{'es' if epochs > 1 else ''}, lr {lr:g}"
        name += f", shuffle {seed}" + (" (shipped)" if setting == shipped else "")
        rows.append({"ranking": name, "within": within(tuned.closest(questions), targets)})
    if args.rerank:
        score = _memo(query_likelihood(args.model))  # each weight re-orders the same scores
        for weight in (float(w) for w in args.weights.split(",")):
            index.use_reranker(score, weight, args.pool)  # as eval, chat and serve do
            reranked = index.closest(questions)
            name = f"cosine + {weight} x query likelihood ({args.model}, pool {args.pool})"
            rows.append({"ranking": name, "within": within(reranked, targets)})
    print(f"{args.dataset}: {len(questions)} questions, {unit}")
    print("| ranking | " + " | ".join(f"k={k + 1}" for k in range(POSITIONS)) + " |")
    print("|---|" + "---|" * POSITIONS)
    for row in rows:
        print(f"| {row['ranking']} | " + " | ".join(f"{w:.1%}" for w in row["within"]) + " |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


def _tuned_index(index: Any, epochs: int, lr: float, seed: int) -> Any:
    """A copy of `index` with its notes found by a retriever tuned with these settings."""
    import copy

    from tunesmith.embedding import tune_retriever

    notes = index.notes
    retriever = tune_retriever(
        [n.question for n in notes], [n.answer for n in notes], epochs=epochs, lr=lr, seed=seed
    )
    tuned = copy.copy(index)
    tuned.retriever, tuned.vectors = retriever, retriever.embed([n.key for n in notes])
    return tuned


def _memo(score: Callable[[str, Sequence[str]], list[float]]) -> Callable[..., list[float]]:
    cache: dict[tuple[str, tuple[str, ...]], list[float]] = {}

    def cached(question: str, texts: Sequence[str]) -> list[float]:
        key = (question, tuple(texts))
        if key not in cache:
            cache[key] = score(question, texts)
        return cache[key]

    return cached


def _northpeak(folder: Path) -> tuple[list[Any], list[str], list[list[str]]]:
    """Training conversations, in-scope evaluation questions and their key facts."""
    from tunesmith.data.readers import read_examples

    items = [json.loads(line) for line in (folder / "eval.jsonl").open(encoding="utf-8")]
    items = [i for i in items if not i.get("out_of_scope") and i.get("key_facts")]
    return (
        list(read_examples(folder / "train.jsonl")),
        [i["question"] for i in items],
        [i["key_facts"] for i in items],
    )


def _bitext(train: int, held: int) -> tuple[list[Any], list[str], list[str], list[str]]:
    """A seeded sample of the customer-support set: training conversations and their intents,
    and a disjoint set of held-out questions and their intents."""
    from tunesmith.data.types import Conversation, Message

    path = Path(os.environ.get("TUNESMITH_SHARED_DATA", REPO.parent / "shared" / "data"))
    with (path / BITEXT).open(newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    random.Random(0).shuffle(records)  # the seed and order benchmarks/specialization.py uses
    conversations = [
        Conversation((Message("user", r["instruction"]), Message("assistant", r["response"])))
        for r in records[:train]
    ]
    held_out = records[train : train + held]
    return (
        conversations,
        [r["intent"] for r in records[:train]],
        [r["instruction"] for r in held_out],
        [r["intent"] for r in held_out],
    )


if __name__ == "__main__":
    raise SystemExit(main())
