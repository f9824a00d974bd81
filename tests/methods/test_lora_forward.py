"""The fused LoRA forward computes what PEFT's forward computes, and falls back where it must."""

import pytest
import torch
from peft.tuners.lora.layer import Linear as PeftLoraLinear

from tunesmith.config import LoraConfig, MethodConfig
from tunesmith.methods import apply_method
from tunesmith.methods.lora_forward import _plain_adapter, use_fused_lora_forward
from tunesmith.models import load_model
from tunesmith.train.loss import summed_token_loss
from tunesmith.train.precision import autocast, cast_frozen_weights


def lora_layers(model):
    return [m for m in model.modules() if isinstance(m, PeftLoraLinear)]


def lora_model(model_dir, *, fused=True, dropout=0.0):
    model = load_model(str(model_dir)).model
    torch.manual_seed(1)  # PEFT draws A at random: same draw for the models compared
    setup = apply_method(model, MethodConfig(name="lora", lora=LoraConfig(dropout=dropout)))
    torch.manual_seed(1)
    with torch.no_grad():
        for layer in lora_layers(setup.model):
            # B starts at zero in PEFT, which would leave A's gradient zero: make both live.
            layer.lora_B["default"].weight.normal_(0, 0.05)
    if not fused:
        for layer in lora_layers(setup.model):
            del layer.forward  # back to PEFT's own class method
    return setup.model


def loss_and_grads(model, precision="fp32"):
    torch.manual_seed(0)
    ids = torch.randint(5, 1000, (2, 16))
    model.train()
    with autocast(precision, torch.device("cpu")):
        loss, tokens = summed_token_loss(model, {"input_ids": ids, "labels": ids.clone()})
    (loss / tokens).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return float(loss.detach()), grads


def test_apply_method_gives_every_lora_layer_the_fused_forward(tiny_model_dir):
    model = lora_model(tiny_model_dir)
    layers = lora_layers(model)
    assert layers and all("forward" in vars(layer) for layer in layers)


def test_fused_forward_matches_peft_loss_and_gradients_in_fp32(tiny_model_dir):
    fused_loss, fused = loss_and_grads(lora_model(tiny_model_dir))
    peft_loss, peft = loss_and_grads(lora_model(tiny_model_dir, fused=False))
    assert fused_loss == pytest.approx(peft_loss, rel=1e-6)
    assert fused.keys() == peft.keys()
    for name in peft:
        assert peft[name].abs().sum() > 0, name
        torch.testing.assert_close(fused[name], peft[name], rtol=1e-5, atol=1e-7)


def test_fused_forward_matches_peft_under_bf16_autocast(tiny_model_dir):
    results = []
    for fused in (True, False):
        model = lora_model(tiny_model_dir, fused=fused)
        cast_frozen_weights(model, "bf16")
        results.append(loss_and_grads(model, "bf16"))
    (fused_loss, fused), (peft_loss, peft) = results
    assert fused_loss == pytest.approx(peft_loss, rel=2e-2)
    for name in peft:
        cosine = torch.nn.functional.cosine_similarity(
            fused[name].flatten(), peft[name].flatten(), dim=0
        )
        assert cosine > 0.99, name


def test_dropout_falls_back_to_peft_forward(tiny_model_dir):
    model = lora_model(tiny_model_dir, dropout=0.1)
    layer = lora_layers(model)[0]
    assert _plain_adapter(layer, torch.zeros(1, 4, layer.in_features), {}) is None


def test_disabled_adapters_give_the_base_output(tiny_model_dir):
    model = lora_model(tiny_model_dir).eval()
    ids = torch.randint(5, 1000, (1, 8))
    with model.disable_adapter(), torch.no_grad():
        disabled = model(input_ids=ids).logits
    base = load_model(str(tiny_model_dir)).model.eval()
    with torch.no_grad():
        torch.testing.assert_close(disabled, base(input_ids=ids).logits)


def test_bf16_base_with_fp32_adapters_without_autocast_matches_peft(tiny_model_dir):
    outputs = []
    for fused in (True, False):
        model = lora_model(tiny_model_dir, fused=fused).eval()
        cast_frozen_weights(model, "bf16")  # generation after training: no autocast
        with torch.no_grad():
            outputs.append(model(input_ids=torch.arange(5, 13).unsqueeze(0)).logits)
    torch.testing.assert_close(outputs[0], outputs[1])


def test_use_fused_lora_forward_counts_the_layers_it_changed(tiny_model_dir):
    model = lora_model(tiny_model_dir, fused=False)
    assert use_fused_lora_forward(model) == len(lora_layers(model))
