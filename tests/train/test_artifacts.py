"""Loading what runs produced: LoRA as base + adapter, freeze as base + trained tensors, full."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tunesmith.config import load_config
from tunesmith.errors import TunesmithError, UsageError
from tunesmith.models import load_model
from tunesmith.train.artifacts import load_run, load_run_or_model
from tunesmith.train.loop import train

IDS = torch.tensor([[1, 20, 300, 4000, 50, 6]])


def logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.fixture
def lora_run(job, tmp_path):
    method = {"name": "lora", "lora": {"r": 4, "dropout": 0.0}}
    return train(load_config(job(method=method, train={"lr": 5e-2})), tmp_path / "lora").run_dir


def test_lora_run_loads_as_base_plus_adapter(lora_run, tiny_model_dir):
    run = load_run(lora_run)
    base = load_model(str(tiny_model_dir)).model
    assert run.method == "lora"
    assert not torch.allclose(logits(run.model), logits(base))
    with run.model.disable_adapter():
        assert torch.allclose(logits(run.model), logits(base), atol=1e-6)


def test_merged_lora_weights_equal_base_plus_scaled_product(lora_run, tiny_model_dir):
    run = load_run(lora_run)
    layer = run.model.base_model.model.model.layers[0].self_attn.q_proj
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    expected = layer.base_layer.weight + layer.scaling["default"] * (b @ a)
    merged = run.model.merge_and_unload()
    assert torch.allclose(merged.model.layers[0].self_attn.q_proj.weight, expected, atol=1e-6)


def test_freeze_run_loads_trained_tensors_over_the_base(job, tmp_path, tiny_model_dir):
    method = {"name": "freeze", "freeze": {"trainable_layers": 1}}
    run_dir = train(load_config(job(method=method, train={"lr": 1e-2})), tmp_path / "f").run_dir
    run = load_run(run_dir)
    trained = load_file(run_dir / "final" / "trained.safetensors")
    base = dict(load_model(str(tiny_model_dir)).model.named_parameters())
    for name, param in run.model.named_parameters():
        expected = trained.get(name, base[name])
        assert torch.equal(param, expected.to(param.dtype)), name
    assert any(not torch.equal(trained[n], base[n]) for n in trained)


def test_full_run_loads_its_own_model(job, tmp_path):
    run_dir = train(load_config(job(method={"name": "full"})), tmp_path / "full").run_dir
    run = load_run(run_dir)
    assert run.method == "full"
    assert run.loaded.folder == (run_dir / "final").resolve()


def test_run_without_final_model_is_an_error(lora_run):
    (lora_run / "final" / "method.json").unlink()
    with pytest.raises(TunesmithError, match="has no final model"):
        load_run(lora_run)


def test_folder_that_is_not_a_run_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a run folder"):
        load_run(tmp_path)


def test_run_is_found_by_registry_name(lora_run):
    name = json.loads((lora_run / "run.json").read_text())["name"]
    loaded = load_run_or_model(name)
    assert loaded.run_dir == lora_run


def test_invalid_training_data_fails_before_training(job, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{not json\n')
    with pytest.raises(TunesmithError, match=r"bad\.jsonl"):
        train(load_config(job(data={"train": str(bad)})), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_run_trained_with_notes_loads_them_unless_told_not_to(notes_run):
    assert load_run(notes_run).notes.count == 2
    assert len(load_run(notes_run).notes) == 10
    assert load_run(notes_run, with_notes=False).notes is None


def test_a_run_finds_its_notes_with_the_retriever_tuned_for_it(notes_run):
    notes = load_run(notes_run).notes
    assert notes.retriever is not None  # data.notes.retriever_epochs defaults to 2
    assert (notes_run / "final" / "notes" / "retriever.safetensors").is_file()
    assert notes.vectors.equal(notes.retriever.embed([n.key for n in notes.notes]))


def test_a_run_trained_without_notes_has_none(lora_run):
    assert load_run(lora_run).notes is None


def test_a_runs_notes_are_re_ranked_only_when_asked(notes_run):
    assert load_run(notes_run).notes.reranker is None  # off by default (measured worse)
    notes = load_run(notes_run, rerank_weight=2.0).notes
    assert notes.reranker is not None and notes.rerank_weight == 2.0 and notes.rerank_pool == 10
    assert load_run(notes_run, rerank_weight=0).notes.reranker is None


def test_a_freeze_runs_notes_are_scored_by_the_base_not_the_tuned_weights(notes_run):
    from tunesmith.models.scoring import query_likelihood

    run = load_run(notes_run, rerank_weight=0.5)
    base = load_model(run.config.model.name)
    texts = [note.text for note in run.notes.notes[:3]]
    question = "How long is the return window?"
    expected = query_likelihood(base.model.eval(), base.tokenizer)(question, texts)
    tuned = query_likelihood(run.model, run.tokenizer)(question, texts)
    assert run.notes.reranker(question, texts) == pytest.approx(expected, abs=1e-5)
    assert tuned != pytest.approx(expected, abs=1e-5)  # the check can tell them apart


def test_a_lora_run_scores_with_its_adapter_off(tiny_model_dir):
    from peft import LoraConfig, get_peft_model

    from tunesmith.models.scoring import query_likelihood
    from tunesmith.train.artifacts import _base_likelihood

    base = load_model(str(tiny_model_dir))
    expected = query_likelihood(base.model.eval(), base.tokenizer)("Where?", ["Q: a\nA: b"])
    loaded = load_model(str(tiny_model_dir))
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    loaded.model = get_peft_model(loaded.model, config).eval()
    tuned = query_likelihood(loaded.model, loaded.tokenizer)("Where?", ["Q: a\nA: b"])
    scorer = _base_likelihood("lora", loaded, None, "cpu")
    assert scorer("Where?", ["Q: a\nA: b"]) == pytest.approx(expected, abs=1e-5)
    assert tuned != pytest.approx(expected, abs=1e-5)
