"""General evaluation: log-likelihood scoring, metrics, suites, probes and forgetting."""

import itertools
import json
import math
import os
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from tests.conftest import hand_log_likelihood

from tunesmith.errors import UsageError
from tunesmith.eval import general
from tunesmith.eval.benchmarks import BenchmarkSpec, read_benchmark
from tunesmith.eval.general import (
    BenchmarkResult,
    GeneralReport,
    choice_credit,
    default_suite,
    evaluate_benchmark,
    evaluate_general,
    forgetting,
    mean_stderr,
    probe_suite,
    shared_suite,
    subsample,
    suite_from_files,
    text_windows,
)
from tunesmith.models import load_model
from tunesmith.models.scoring import Score

SHARED_DATA = Path(
    os.environ.get("TUNESMITH_SHARED_DATA")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
CONTEXT = "Question: What color is a clear daytime sky?\nAnswer:"
CHOICES = [" blue", " green", " a very loud trumpet", " 42"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


class BigramModel(torch.nn.Module):
    """A stand-in model whose greedy prediction is known: logit 10 on `follow[token]`."""

    def __init__(self, vocab: int, follow: dict[int, int]):
        super().__init__()
        self.vocab = vocab
        self.embed = torch.nn.Embedding(vocab, 1)
        table = torch.zeros(vocab, dtype=torch.long)
        for token, after in follow.items():
            table[token] = after
        self.register_buffer("follow", table)
        self.config = SimpleNamespace(max_position_embeddings=512, _attn_implementation="sdpa")

    def get_input_embeddings(self):
        return self.embed

    @property
    def device(self):
        return self.follow.device

    def forward(self, input_ids, attention_mask=None, position_ids=None, use_cache=False,
                logits_to_keep=0):  # fmt: skip
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits.scatter_(2, self.follow[input_ids][..., None], 10.0)
        return SimpleNamespace(logits=logits[:, -logits_to_keep:] if logits_to_keep else logits)


# --- metrics -----------------------------------------------------------------------------------


def test_acc_norm_divides_by_the_choice_length_in_characters(tmp_path, monkeypatch):
    # Per character "abcd" wins (-1.0 > -1.1); per byte "ééé" (6 bytes) would win (-0.55).
    record = {"question": "Pick one", "choices": ["ééé", "abcd"], "answer": 1}
    path = write_jsonl(tmp_path / "qa.jsonl", [record])
    fixed = [Score(-3.3, False, 2), Score(-4.0, False, 2)]
    monkeypatch.setattr(general, "score_pairs", lambda *args, **kwargs: fixed)
    result = evaluate_benchmark(None, None, BenchmarkSpec("qa", path))
    assert (result.acc, result.acc_norm) == (0.0, 1.0)


def test_ties_share_credit_so_the_answer_position_cannot_leak():
    assert choice_credit([-2.0, -2.0, -2.0, -2.0], 0) == 0.25
    assert choice_credit([-1.0, -2.0], 0) == 1.0
    assert choice_credit([-2.0, -1.0], 0) == 0.0


def test_truthfulqa_with_a_constant_model_scores_chance_not_the_first_position(tiny, tmp_path):
    records = [
        {"question": f"Question {n}?", "mc1_targets": {"choices": choices, "labels": labels}}
        for n, (choices, labels) in enumerate(
            [(["yes", "no"], [1, 0]), (["yes", "no", "maybe"], [1, 0, 0])]
        )
    ]
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(records))
    constant = BigramModel(len(tiny.tokenizer), {})  # every context predicts token 0
    result = evaluate_benchmark(constant, tiny.tokenizer, BenchmarkSpec("tqa", path))
    assert result.acc == pytest.approx((1 / 2 + 1 / 3) / 2)  # not 1.0


def test_mean_stderr_is_the_binomial_standard_error():
    mean, stderr = mean_stderr([1.0, 0.0, 1.0, 1.0])
    assert mean == 0.75
    assert stderr == pytest.approx(math.sqrt(0.75 * 0.25 / 3))


def test_lambada_accuracy_counts_exact_greedy_continuations(tiny, tmp_path):
    tokenizer = tiny.tokenizer
    items = [("Every green frog jumped over", "puddles"), ("Bright stars shine above", "oceans")]
    follow = {}
    for context, word in items:  # each token predicts the next one of its own item
        ids = tokenizer(context + " " + word, add_special_tokens=False)["input_ids"]
        follow.update(itertools.pairwise(ids))
    last = tokenizer(items[1][0], add_special_tokens=False)["input_ids"][-1]
    follow[last] = tokenizer(" rivers", add_special_tokens=False)["input_ids"][0]  # not "oceans"
    path = write_jsonl(
        tmp_path / "lambada.jsonl", [{"context": c, "continuation": w} for c, w in items]
    )
    result = evaluate_benchmark(
        BigramModel(len(tokenizer), follow), tokenizer, BenchmarkSpec("l", path)
    )
    assert result.acc == 0.5


def test_lambada_perplexity_is_exp_of_minus_the_mean_log_likelihood(tiny, tmp_path):
    items = [{"context": "The cat sat on the", "continuation": "mat"},
             {"context": "Snow fell all night on the", "continuation": "village"}]  # fmt: skip
    path = write_jsonl(tmp_path / "lambada.jsonl", items)
    result = evaluate_benchmark(tiny.model, tiny.tokenizer, BenchmarkSpec("l", path))
    lls = [
        hand_log_likelihood(tiny.model, tiny.tokenizer, i["context"], " " + i["continuation"])
        for i in items
    ]
    assert result.perplexity == pytest.approx(math.exp(-sum(lls) / 2), rel=1e-5)


@pytest.mark.parametrize("gold", [0, 1])
def test_schema_scoring_compares_the_continuation_after_each_option(tiny, tmp_path, gold):
    options = [
        "The ball broke the table because the ball",
        "The ball broke the table because the table",
    ]
    record = {"context_options": options, "continuation": "was made of glass.", "gold": gold}
    path = write_jsonl(tmp_path / "wino.jsonl", [record])
    result = evaluate_benchmark(tiny.model, tiny.tokenizer, BenchmarkSpec("w", path))
    lls = [
        hand_log_likelihood(tiny.model, tiny.tokenizer, o, " was made of glass.") for o in options
    ]
    assert result.acc == float(lls.index(max(lls)) == gold)
    assert result.acc_norm is None


def test_text_windows_score_every_token_exactly_once():
    tokens = list(range(100, 130))
    requests = text_windows(tokens, prefix=1, window=8, stride=4)
    assert [t for _, continuation in requests for t in continuation] == tokens
    assert all(len(context) + len(cont) <= 8 for context, cont in requests)
    assert requests[0][0] == [1]


def test_text_perplexity_is_exp_of_the_mean_token_nll(tiny, tmp_path):
    text = "Bread rises because yeast makes gas. The gas is trapped by gluten."
    path = tmp_path / "doc.txt"
    path.write_text(text)
    result = evaluate_benchmark(tiny.model, tiny.tokenizer, BenchmarkSpec("t", path))
    tokens = tiny.tokenizer(text, add_special_tokens=False)["input_ids"]
    prefix = tiny.tokenizer.decode([tiny.tokenizer.bos_token_id])
    nll = -hand_log_likelihood(tiny.model, tiny.tokenizer, prefix, text)
    assert result.n == len(tokens)
    assert result.perplexity == pytest.approx(math.exp(nll / len(tokens)), rel=1e-5)


# --- subsampling, suites, reports ---------------------------------------------------------------


def test_subsampling_depends_only_on_the_seed():
    assert subsample(100, 10, seed=3) == subsample(100, 10, seed=3)
    assert subsample(100, 10, seed=3) != subsample(100, 10, seed=4)
    assert set(subsample(100, 10, seed=3)) <= set(subsample(100, 20, seed=3))


def test_a_limited_run_reports_n_total_and_stderr(tiny):
    (probes, _) = probe_suite()
    result = evaluate_benchmark(tiny.model, tiny.tokenizer, probes, limit=20, seed=1)
    assert (result.n, result.total) == (20, len(read_benchmark(probes).items))
    assert result.stderr == pytest.approx(math.sqrt(result.acc * (1 - result.acc) / 19))


def test_evaluate_general_reports_every_benchmark_of_the_suite(tiny):
    seen = []
    report = evaluate_general(
        tiny.model, tiny.tokenizer, suite=probe_suite(), limit=8, progress=seen.append
    )
    assert [r.name for r in report.benchmarks] == ["general_probes", "general_text"]
    assert seen == report.benchmarks
    json.dumps(report.to_dict())


def test_report_round_trips_through_a_dict():
    report = GeneralReport([BenchmarkResult("a", "plain_mc", "acc", 10, 20, acc=0.5)], 10, 2, 1.5)
    assert GeneralReport.from_dict(report.to_dict()) == report


def test_default_suite_reads_the_shared_data_when_present(monkeypatch):
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared benchmark data is not here")
    monkeypatch.setenv("TUNESMITH_SHARED_DATA", str(SHARED_DATA))
    names = [spec.name for spec in default_suite()]
    assert names == ["arc_easy", "piqa", "openbookqa", "lambada_openai"]


def test_default_suite_falls_back_to_the_bundled_probes(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNESMITH_SHARED_DATA", str(tmp_path))  # a folder without the files
    assert [spec.name for spec in default_suite()] == ["general_probes", "general_text"]


def test_files_become_a_suite_named_after_them(tmp_path):
    paths = [tmp_path / "x" / "arc_easy.jsonl", tmp_path / "notes.md", tmp_path / "y" / "notes.md"]
    specs = suite_from_files(paths)
    assert [spec.name for spec in specs] == ["arc_easy", "notes", "notes_2"]
    assert specs[0].delimiter == "\nAnswer: "  # a copy of a shared benchmark scores the same


def test_shared_data_variable_pointing_nowhere_is_a_usage_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNESMITH_SHARED_DATA", str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="TUNESMITH_SHARED_DATA"):
        shared_suite()


# --- forgetting ----------------------------------------------------------------------------------


def report(arc: float, lam: float, ppl: float) -> GeneralReport:
    return GeneralReport(
        [
            BenchmarkResult("arc", "foundry_mc", "acc", 100, 100, acc=arc, stderr=0.05),
            BenchmarkResult("lambada", "foundry_lm", "acc", 50, 50, acc=lam, stderr=0.03),
            BenchmarkResult("text", "text", "perplexity", 900, 1, perplexity=ppl),
        ]
    )


def test_forgetting_reports_drops_on_known_numbers():
    result = forgetting(report(0.5, 0.4, 10.0), report(0.4, 0.3, 12.0))
    arc, lam, text = (result["benchmarks"][n] for n in ("arc", "lambada", "text"))
    assert (arc["drop"], arc["relative_drop"]) == pytest.approx((0.1, 0.2))
    assert (lam["drop"], lam["relative_drop"]) == pytest.approx((0.1, 0.25))
    assert (text["drop"], text["relative_drop"]) == pytest.approx((2.0, 0.2))
    assert arc["stderr"] == pytest.approx(math.sqrt(2) * 0.05)
    assert result["mean_drop"] == pytest.approx(0.1)
    assert result["mean_relative_drop"] == pytest.approx(0.225)


def test_forgetting_refuses_reports_scored_on_different_items():
    tuned = report(0.4, 0.3, 12.0)
    tuned.benchmarks[0].n = 50
    with pytest.raises(UsageError, match="different items"):
        forgetting(report(0.5, 0.4, 10.0), tuned)


# --- the bundled probe set ---------------------------------------------------------------------


def probe_records() -> list[dict]:
    text = (resources.files("tunesmith") / "resources/probes/general_probes.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_probe_set_has_at_least_200_well_formed_four_choice_items():
    items = read_benchmark(probe_suite()[0]).items
    assert len(items) >= 200
    assert all(len(item.pairs) == 4 for item in items)


def test_probe_answer_positions_are_balanced():
    records = probe_records()
    counts = [sum(r["answer"] == i for r in records) for i in range(4)]
    assert max(counts) - min(counts) <= 1


def test_probe_questions_cover_the_four_areas_and_never_repeat():
    records = probe_records()
    areas = {r["category"] for r in records}
    assert areas == {"everyday", "science", "arithmetic", "language"}
    assert len({r["question"] for r in records}) == len(records)


def test_probe_text_ships_with_the_package_and_has_about_2000_words():
    text = (resources.files("tunesmith") / "resources/probes/general_text.md").read_text()
    assert len(text.split()) >= 1800


# --- the real default model (slow) ---------------------------------------------------------------


@pytest.mark.slow
def test_default_model_scores_a_sane_arc_easy_accuracy(shared_home, monkeypatch):
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared benchmark data is not here")
    monkeypatch.setenv("TUNESMITH_HOME", str(shared_home))
    loaded = load_model("smollm2-135m-instruct")
    (spec,) = shared_suite(["arc_easy"], SHARED_DATA)
    result = evaluate_benchmark(loaded.model, loaded.tokenizer, spec, limit=100, seed=0)
    assert result.n == 100
    assert 0.35 <= result.acc <= 0.75
