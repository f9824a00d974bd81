"""The main job end to end on the tiny model: validate, train 3 methods, evaluate, compare."""

import json

import yaml
from tests.conftest import write_chat_jsonl

from tunesmith.cli.main import main

EVAL = [
    {"id": f"q{i}", "question": q, "reference": a, "key_facts": [a.split()[-1].rstrip(".")],
     "fact_ids": [f"f{i}"], "out_of_scope": False}
    for i, (q, a) in enumerate((("Return window length?", "It is 60 days."),
                                ("Sunday hours?", "We open at 10am.")))
] + [{"id": "o1", "question": "Best stock to buy?", "reference": "I can only help with gear.",
      "key_facts": [], "fact_ids": [], "out_of_scope": True}]  # fmt: skip


def test_demo_runs_every_method_and_writes_the_report(tiny_model_dir, tmp_path, capsys):
    example = tmp_path / "example"
    example.mkdir()
    write_chat_jsonl(example / "train.jsonl", count=30)
    (example / "eval.jsonl").write_text("".join(json.dumps(item) + "\n" for item in EVAL))
    glossary = {"preferred": [{"term": "members", "instead_of": ["customers"]}],
                "banned": ["cheap"], "sign_off": "Happy trails!"}  # fmt: skip
    (example / "glossary.yaml").write_text(yaml.safe_dump(glossary))
    out = tmp_path / "demo"
    args = ["demo", "--model", str(tiny_model_dir), "--example", str(example), "--out", str(out),
            "--scale", "0.05", "--general-limit", "4", "--json"]  # fmt: skip
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["method"] for row in data["comparison"]] == ["lora", "freeze", "full"]
    assert all(row["domain_score"] is not None for row in data["comparison"])
    assert len(data["samples"]) == 2  # both in-scope held-out questions, base vs best
    check = data["general_check"]
    assert check["prompt"] == "The capital of France is" and {"base", "answer"} <= set(check)
    assert (out / "report" / "report.html").is_file()


def test_demo_without_sample_data_says_where_to_run_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 2
    assert "run the demo from the repository root" in capsys.readouterr().err
