import torch

from tunesmith.eval.generation import chat_replies, render_prompt
from tunesmith.models import load_model

QUESTIONS = ["Hi", "What is the capital of France?", "Tell me a long story about mountains."]


def greedy_one(model, tokenizer, messages, max_new_tokens):
    ids = tokenizer(
        render_prompt(tokenizer, messages), return_tensors="pt", add_special_tokens=False
    )
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
    return out[0, ids["input_ids"].shape[1] :].tolist()


def test_batched_replies_equal_one_by_one_greedy(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir))
    conversations = [[{"role": "user", "content": q}] for q in QUESTIONS]
    replies = chat_replies(loaded.model, loaded.tokenizer, conversations, max_new_tokens=8)
    for messages, reply in zip(conversations, replies, strict=True):
        expected = greedy_one(loaded.model, loaded.tokenizer, messages, 8)
        text = loaded.tokenizer.decode(expected, skip_special_tokens=True).strip()
        assert reply.text == text


def test_reply_at_token_cap_is_not_stopped(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir))
    loaded.model.generation_config.eos_token_id = [0]  # a random model never emits it here
    (reply,) = chat_replies(
        loaded.model, loaded.tokenizer, [[{"role": "user", "content": "Hi"}]], max_new_tokens=5
    )
    assert reply.new_tokens == 5
    assert not reply.stopped


def test_replies_keep_input_order(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir))
    conversations = [[{"role": "user", "content": q}] for q in QUESTIONS]
    batched = chat_replies(loaded.model, loaded.tokenizer, conversations, max_new_tokens=4)
    singles = [
        chat_replies(loaded.model, loaded.tokenizer, [c], max_new_tokens=4)[0]
        for c in conversations
    ]
    assert [r.text for r in batched] == [r.text for r in singles]
