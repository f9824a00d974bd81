"""Each method trains exactly the parameters it promises; everything else stays bit-identical."""

import pytest
import torch

from tunesmith.config import FreezeConfig, LoraConfig, MethodConfig
from tunesmith.errors import ConfigError
from tunesmith.methods import apply_method
from tunesmith.methods.apply import default_trainable_layers
from tunesmith.methods.blocks import decoder_blocks
from tunesmith.models import load_model
from tunesmith.train.loss import summed_token_loss


def snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def train_steps(model, steps=3, lr=1e-2):
    torch.manual_seed(0)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    ids = torch.randint(5, 1000, (2, 12))
    batch = {"input_ids": ids, "labels": ids.clone()}
    for _ in range(steps):
        loss, tokens = summed_token_loss(model, batch)
        (loss / tokens).backward()
        optimizer.step()
        optimizer.zero_grad()


def changed_names(before, model):
    return {name for name, p in model.named_parameters() if not torch.equal(before[name], p)}


@pytest.fixture
def model(tiny_model_dir):
    return load_model(str(tiny_model_dir)).model


def test_full_changes_every_parameter(model):
    setup = apply_method(model, MethodConfig(name="full"))
    before = snapshot(setup.model)
    train_steps(setup.model)
    assert changed_names(before, setup.model) == set(before)
    assert setup.counts()[0] == setup.counts()[1]


def test_freeze_changes_only_last_blocks_and_norm(model):
    config = MethodConfig(name="freeze", freeze=FreezeConfig(trainable_layers=1))
    setup = apply_method(model, config)
    before = snapshot(setup.model)
    train_steps(setup.model)
    changed = changed_names(before, setup.model)
    expected = {n for n in before if n.startswith("model.layers.1.") or n == "model.norm.weight"}
    assert changed == expected
    assert set(setup.trainable) == expected
    assert setup.first_trainable_block == 1


def test_freeze_default_trains_the_last_third_of_the_blocks_rounded_up(model):
    setup = apply_method(model, MethodConfig(name="freeze"))
    assert setup.first_trainable_block == 1  # 2 blocks: a third rounds up to 1


@pytest.mark.parametrize(
    ("patterns", "first"),
    [
        (["model.layers.1.mlp*"], 1),
        (["model.norm", "model.layers.1"], 1),
        (["model.layers"], 0),  # the parent list: every block trains
        (["model.embed_tokens", "model.layers.1"], 0),  # the embedding feeds every block
        (["lm_head", "model.layers.1"], 0),  # tied to the embedding in the tiny model
        (["model.norm"], 2),  # no block trains
    ],
)
def test_lowest_trained_block_never_has_a_trained_weight_below_it(model, patterns, first):
    setup = apply_method(model, MethodConfig(name="freeze", freeze=FreezeConfig(patterns=patterns)))
    assert setup.first_trainable_block == first


def test_a_tied_head_makes_every_block_build_a_backward_graph(model):
    config = FreezeConfig(trainable_layers=1, train_head=True)
    setup = apply_method(model, MethodConfig(name="freeze", freeze=config))
    assert setup.first_trainable_block == 0


@pytest.mark.parametrize(("blocks", "trained"), [(1, 1), (2, 1), (3, 1), (4, 2), (30, 10)])
def test_default_trainable_layers_is_a_third_rounded_up(blocks, trained):
    assert default_trainable_layers(blocks) == trained


def test_freeze_lower_blocks_build_no_backward_graph(model):
    setup = apply_method(
        model, MethodConfig(name="freeze", freeze=FreezeConfig(trainable_layers=1))
    )
    needs_grad = {}
    for index, block in enumerate(decoder_blocks(setup.model)):
        block.register_forward_hook(
            lambda module, args, out, index=index: needs_grad.__setitem__(
                index, (out[0] if isinstance(out, tuple) else out).requires_grad
            )
        )
    ids = torch.randint(5, 1000, (1, 8))
    summed_token_loss(setup.model, {"input_ids": ids, "labels": ids})
    assert needs_grad == {0: False, 1: True}


def test_freeze_with_tied_head_notes_that_embedding_trains(model):
    config = MethodConfig(name="freeze", freeze=FreezeConfig(trainable_layers=1, train_head=True))
    setup = apply_method(model, config)
    assert "model.embed_tokens.weight" in setup.trainable
    assert setup.notes and "tied" in setup.notes[0]


def test_freeze_patterns_select_modules_by_name(model):
    config = MethodConfig(name="freeze", freeze=FreezeConfig(patterns=["model.layers.0.mlp*"]))
    setup = apply_method(model, config)
    before = snapshot(setup.model)
    train_steps(setup.model)
    changed = changed_names(before, setup.model)
    assert changed == {n for n in before if n.startswith("model.layers.0.mlp.")}


def test_freeze_pattern_matching_nothing_is_a_config_error(model):
    config = MethodConfig(name="freeze", freeze=FreezeConfig(patterns=["nope.*"]))
    with pytest.raises(ConfigError, match="match no module"):
        apply_method(model, config)


def test_freeze_more_layers_than_model_is_a_config_error(model):
    config = MethodConfig(name="freeze", freeze=FreezeConfig(trainable_layers=5))
    with pytest.raises(ConfigError, match="more than the model's 2 blocks"):
        apply_method(model, config)


def test_lora_changes_only_adapter_weights(model):
    setup = apply_method(model, MethodConfig(name="lora", lora=LoraConfig(r=4)))
    before = snapshot(setup.model)
    train_steps(setup.model)
    changed = changed_names(before, setup.model)
    assert changed and all("lora_" in name for name in changed)
    lora_names = {n for n in before if "lora_" in n}
    assert changed == lora_names
    trainable, total = setup.counts()
    assert trainable < 0.2 * total


def test_lora_all_linear_targets_every_block_linear_but_not_the_head(model):
    setup = apply_method(model, MethodConfig(name="lora"))
    adapted = {n.split(".lora_A")[0] for n in setup.trainable if ".lora_A." in n}
    kinds = {name.rsplit(".", 1)[-1] for name in adapted}
    assert kinds == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert not any("lm_head" in name for name in adapted)


def test_lora_explicit_targets_and_dora(model):
    config = MethodConfig(name="lora", lora=LoraConfig(r=2, targets=["q_proj"], dora=True))
    setup = apply_method(model, config)
    assert all("q_proj" in name for name in setup.trainable)
    assert any("lora_magnitude_vector" in name for name in setup.trainable)


def test_lora_unknown_target_is_a_config_error(model):
    config = MethodConfig(name="lora", lora=LoraConfig(targets=["no_such_proj"]))
    with pytest.raises(ConfigError, match="method.lora.targets"):
        apply_method(model, config)
