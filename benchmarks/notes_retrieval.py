"""How often the answer notes hold a held-out question's key facts, by ranking (no training).

For each in-scope question of the sample company's evaluation file: the share of its key facts
found in the first 1..4 notes, as `tunesmith.data.notes` ranks them (all-MiniLM-L6-v2 cosine of
question vs question + answer), and re-ranked: the top `--pool` candidates scored by cosine +
w x the mean log-probability a language model gives the question after the note ("query
likelihood"). The retrieval ceiling of the answer notes and the lead for ranking them
(docs/specialization.md, "Ranking the notes").

    python benchmarks/notes_retrieval.py                        # cosine only, seconds
    python benchmarks/notes_retrieval.py --rerank --weights 0.2,0.5   # + base model, ~5 min
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "northpeak"
POSITIONS = 4


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


def query_likelihood(model_name: str) -> Callable[[str, Sequence[str]], list[float]]:
    """Mean log-probability of the question's tokens after each note, by `model_name`."""
    import torch

    from tunesmith.models.loader import load_model

    loaded = load_model(model_name)
    model, tokenizer = loaded.model.float(), loaded.tokenizer

    @torch.no_grad()
    def score(question: str, notes: Sequence[str]) -> list[float]:
        target = tokenizer(" " + question, add_special_tokens=False)["input_ids"]
        rows = [tokenizer(f"{n}\n\nQ:", add_special_tokens=False)["input_ids"] for n in notes]
        width = max(len(r) for r in rows) + len(target)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id or 0)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(rows):
            ids[i, : len(row) + len(target)] = torch.tensor(row + target)
            mask[i, : len(row) + len(target)] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        out = []
        for i, row in enumerate(rows):
            start, end = len(row), len(row) + len(target)
            picked = logits[i, start - 1 : end - 1].gather(1, ids[i, start:end, None])
            out.append(float(picked.mean()))
        return out

    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SAMPLE, help="Folder with train/eval.jsonl.")
    parser.add_argument("--rerank", action="store_true", help="Also re-rank with --model.")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--pool", type=int, default=10, help="Candidates re-ranked.")
    parser.add_argument("--weights", default="0.2,0.5", help="Weights of the likelihood.")
    parser.add_argument("--limit", type=int, default=0, help="First N questions only (0: all).")
    parser.add_argument("--out", type=Path, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)

    from tunesmith.data.notes import build_index
    from tunesmith.data.readers import read_examples

    index = build_index(read_examples(args.data / "train.jsonl"), count=args.pool)
    items = [json.loads(line) for line in (args.data / "eval.jsonl").open(encoding="utf-8")]
    items = [i for i in items if not i.get("out_of_scope") and i.get("key_facts")]
    items = items[: args.limit] if args.limit else items
    questions = [i["question"] for i in items]
    facts = [i["key_facts"] for i in items]
    candidates = index.closest(questions)  # closest first, distinct answers, `pool` of them
    rows: list[dict[str, Any]] = [
        {"ranking": "cosine (as built)", "within": facts_within(candidates, facts)}
    ]
    if args.rerank:
        from tunesmith.embedding import embed

        score = query_likelihood(args.model)
        likelihoods = [score(q, texts) for q, texts in zip(questions, candidates, strict=True)]
        # The same cosine the index ranks by (question vs the note's question + whole answer).
        vector_of = {
            n.text: v for n, v in reversed(list(zip(index.notes, index.vectors, strict=True)))
        }
        asked = embed(questions)
        cosines = [
            [float(q @ vector_of[t]) for t in texts]
            for q, texts in zip(asked, candidates, strict=True)
        ]
        for weight in (float(w) for w in args.weights.split(",")):
            reranked = [
                [t for _, t in sorted(zip([c + weight * x for c, x in zip(cos, ql, strict=True)],
                                          texts, strict=True), key=lambda p: -p[0])]
                for cos, ql, texts in zip(cosines, likelihoods, candidates, strict=True)
            ]  # fmt: skip
            name = f"cosine + {weight} x query likelihood ({args.model}, pool {args.pool})"
            rows.append({"ranking": name, "within": facts_within(reranked, facts)})
    total = sum(len(f) for f in facts)
    print(f"{len(items)} questions, {total} key facts; share within the first k notes")
    print("| ranking | " + " | ".join(f"k={k + 1}" for k in range(POSITIONS)) + " |")
    print("|---|" + "---|" * POSITIONS)
    for row in rows:
        print(f"| {row['ranking']} | " + " | ".join(f"{w:.1%}" for w in row["within"]) + " |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
