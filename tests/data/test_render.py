"""Rendering with the model's chat template and answer-only labels, for several templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesmith.data.render import OverlongError, tokenize_conversation, tokenize_document
from tunesmith.data.types import IGNORE_INDEX, Conversation, Document, Message
from tunesmith.errors import DataError

# Llama 3's template, as shipped with Meta-Llama-3-8B-Instruct.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
# Mistral-Instruct style: no system role, `[INST] question [/INST] answer</s>`.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)
# Renders only the final assistant answer in full; earlier ones are shortened (like templates
# that strip reasoning from history), so earlier turns cannot be located in the full text.
HISTORY_REWRITING_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' and not loop.last %}(earlier answer)"
    "{% else %}{{ message['content'] }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer(folder: Path, template: str | None = None, **special: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if special:
        tokenizer.add_special_tokens({"additional_special_tokens": list(special.values())})
        for name, token in special.items():
            setattr(tokenizer, name, token)
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


@pytest.fixture(scope="module")
def chatml(tokenizer_dir: Path) -> Any:
    """The default model's tokenizer and its own ChatML template."""
    return _tokenizer(tokenizer_dir)


@pytest.fixture(scope="module")
def llama3(tokenizer_dir: Path) -> Any:
    tokenizer = _tokenizer(
        tokenizer_dir, LLAMA3_TEMPLATE, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>"]}
    )
    return tokenizer


@pytest.fixture(scope="module")
def mistral(tokenizer_dir: Path) -> Any:
    return _tokenizer(tokenizer_dir, MISTRAL_TEMPLATE, bos_token="<s>", eos_token="</s>")


def chat(*turns: tuple[str, str] | tuple[str, str, int], line: int = 7) -> Conversation:
    messages = tuple(Message(*turn) for turn in turns)  # type: ignore[arg-type]
    return Conversation(messages, source="train.jsonl", line=line)


TWO_TURNS = chat(
    ("user", "What is the return window?"),
    ("assistant", "You have 30 days to return unused gear."),
    ("user", "And for sale items?"),
    ("assistant", "Sale items can be returned within 14 days."),
)


def trained_texts(tokenizer: Any, example: Any) -> list[str]:
    """The decoded runs of consecutive trained tokens."""
    runs: list[list[int]] = [[]]
    for token, label in zip(example.input_ids, example.labels, strict=True):
        if label == IGNORE_INDEX:
            runs.append([])
            continue
        assert label == token
        runs[-1].append(token)
    return [tokenizer.decode(run) for run in runs if run]


def test_default_template_trains_each_answer_with_its_end_token(chatml: Any) -> None:
    example = tokenize_conversation(chatml, TWO_TURNS)
    assert trained_texts(chatml, example) == [
        "You have 30 days to return unused gear.<|im_end|>",
        "Sale items can be returned within 14 days.<|im_end|>",
    ]


def test_default_template_ids_equal_the_templates_own_tokenization(chatml: Any) -> None:
    example = tokenize_conversation(chatml, TWO_TURNS)
    expected = chatml.apply_chat_template(TWO_TURNS.as_chat(), tokenize=True)["input_ids"]
    assert example.input_ids == list(expected)


def test_default_system_prompt_injected_by_template_is_not_trained(chatml: Any) -> None:
    example = tokenize_conversation(chatml, TWO_TURNS)
    assert "You are a helpful AI assistant named SmolLM" in chatml.decode(example.input_ids)
    assert not any("SmolLM" in text for text in trained_texts(chatml, example))


def test_system_prompt_is_rendered_but_not_trained(chatml: Any) -> None:
    conversation = chat(
        ("system", "You are Northpeak's support assistant."),
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
    )
    example = tokenize_conversation(chatml, conversation)
    text = chatml.decode(example.input_ids)
    assert text.startswith("<|im_start|>system\nYou are Northpeak's support assistant.<|im_end|>")
    assert trained_texts(chatml, example) == ["Hello! How can I help?<|im_end|>"]


def test_weight_zero_assistant_turn_carries_no_labels(chatml: Any) -> None:
    conversation = chat(
        ("user", "Q1"),
        ("assistant", "A bad first answer.", 0),
        ("user", "Q2"),
        ("assistant", "A good answer."),
    )
    example = tokenize_conversation(chatml, conversation)
    assert trained_texts(chatml, example) == ["A good answer.<|im_end|>"]


def test_train_on_last_trains_only_the_final_answer(chatml: Any) -> None:
    example = tokenize_conversation(chatml, TWO_TURNS, train_on="last")
    assert trained_texts(chatml, example) == [
        "Sale items can be returned within 14 days.<|im_end|>"
    ]


def test_train_on_all_trains_every_token_after_the_first(chatml: Any) -> None:
    example = tokenize_conversation(chatml, TWO_TURNS, train_on="all")
    assert example.labels[0] == IGNORE_INDEX
    assert example.labels[1:] == example.input_ids[1:]


def test_llama3_template_trains_each_answer_with_eot(llama3: Any) -> None:
    example = tokenize_conversation(llama3, TWO_TURNS)
    assert trained_texts(llama3, example) == [
        "You have 30 days to return unused gear.<|eot_id|>",
        "Sale items can be returned within 14 days.<|eot_id|>",
    ]


def test_bos_written_by_the_template_is_not_doubled(tokenizer_dir: Path) -> None:
    tokenizer = _tokenizer(
        tokenizer_dir, LLAMA3_TEMPLATE, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"
    )
    tokenizer.add_bos_token = True  # the tokenizer itself adds a BOS to plain text too
    example = tokenize_conversation(tokenizer, TWO_TURNS)
    assert example.input_ids[0] == tokenizer.bos_token_id
    assert example.input_ids.count(tokenizer.bos_token_id) == 1


def test_mistral_template_trains_each_answer_with_eos(mistral: Any) -> None:
    example = tokenize_conversation(mistral, TWO_TURNS)
    # The space the template writes before an answer is part of the answer's first token
    # (" You"), so it is trained with it; nothing else outside the answer is.
    assert trained_texts(mistral, example) == [
        " You have 30 days to return unused gear.</s>",
        " Sale items can be returned within 14 days.</s>",
    ]


def test_template_without_system_role_gets_system_folded_into_first_user(mistral: Any) -> None:
    conversation = chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."))
    example = tokenize_conversation(mistral, conversation)
    assert mistral.decode(example.input_ids) == "<s>[INST] Be brief.\n\nHi [/INST] Hello.</s>"
    assert example.meta == {"system_folded": 1}
    assert trained_texts(mistral, example) == [" Hello.</s>"]


def test_template_rejecting_a_conversation_names_the_line(mistral: Any) -> None:
    conversation = chat(("user", "Hi"), ("user", "Again"), ("assistant", "Hello."), line=12)
    with pytest.raises(DataError, match=r"train\.jsonl:12: .*roles must alternate"):
        tokenize_conversation(mistral, conversation)


def test_template_rewriting_history_is_an_error_unless_training_the_last_turn(
    tokenizer_dir: Path,
) -> None:
    tokenizer = _tokenizer(tokenizer_dir, HISTORY_REWRITING_TEMPLATE)
    with pytest.raises(DataError, match="cannot locate assistant turn 2"):
        tokenize_conversation(tokenizer, TWO_TURNS)
    example = tokenize_conversation(tokenizer, TWO_TURNS, train_on="last")
    assert trained_texts(tokenizer, example) == [
        "Sale items can be returned within 14 days.<|im_end|>"
    ]


def test_overlong_error_names_source_line_count_and_limit(chatml: Any) -> None:
    length = len(tokenize_conversation(chatml, TWO_TURNS).input_ids)
    with pytest.raises(OverlongError, match=rf"train\.jsonl:7: .* {length} tokens, .* 20"):
        tokenize_conversation(chatml, TWO_TURNS, max_length=20)


def test_overlong_truncate_cuts_to_the_limit_and_marks_it(chatml: Any) -> None:
    full = tokenize_conversation(chatml, TWO_TURNS)
    example = tokenize_conversation(chatml, TWO_TURNS, max_length=40, overlong="truncate")
    assert example.input_ids == full.input_ids[:40]
    assert example.labels == full.labels[:40]
    assert example.meta["truncated"] == 1


def test_overlong_drop_returns_none(chatml: Any) -> None:
    assert tokenize_conversation(chatml, TWO_TURNS, max_length=20, overlong="drop") is None


def test_example_within_the_limit_is_kept_whole(chatml: Any) -> None:
    full = tokenize_conversation(chatml, TWO_TURNS)
    kept = tokenize_conversation(chatml, TWO_TURNS, max_length=len(full.input_ids))
    assert kept.input_ids == full.input_ids
    assert "truncated" not in kept.meta


def test_document_is_cut_into_windows_with_every_token_trained(chatml: Any) -> None:
    text = "Northpeak sells tents, packs and stoves. " * 20
    ids = chatml(text)["input_ids"] + [chatml.eos_token_id]
    windows = tokenize_document(chatml, Document(text, source="notes.txt"), window=32)
    assert all(len(w.input_ids) <= 32 for w in windows)
    assert len(windows) > 3
    trained = [label for w in windows for label in w.labels if label != IGNORE_INDEX]
    assert trained == ids[1:]  # every token after the first, once each
    assert windows[-1].input_ids[-1] == chatml.eos_token_id
