"""Apply a fine-tuning method to a loaded model: set exactly which parameters train."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from tunesmith.config import FreezeConfig, LoraConfig, MethodConfig
from tunesmith.errors import ConfigError
from tunesmith.methods.blocks import decoder_blocks, final_norm, head_is_tied, output_head
from tunesmith.methods.lora_forward import use_fused_lora_forward


@dataclass
class MethodSetup:
    """The model to train (a PEFT wrapper for LoRA) and what trains in it."""

    name: str
    model: Any
    trainable: list[str]
    notes: list[str] = field(default_factory=list)
    # Index of the lowest block with trainable weights: blocks below it need no backward graph.
    first_trainable_block: int = 0

    def counts(self) -> tuple[int, int]:
        """(trainable, total) parameter counts."""
        return count_parameters(self.model)


def apply_method(model: nn.Module, config: MethodConfig) -> MethodSetup:
    """Freeze everything, then unfreeze (or add) what the method trains."""
    if config.name == "full":
        return _full(model)
    if config.name == "freeze":
        return _freeze(model, config.freeze)
    return _lora(model, config.lora)


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = total = 0
    seen: set[int] = set()
    for param in model.parameters():  # parameters() already skips tied duplicates
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return trainable, total


def default_trainable_layers(block_count: int) -> int:
    """Blocks that train under freeze by default: the last third, rounded up.

    Measured on the sample company (docs/specialization.md): the last 10 of 30 blocks learn
    facts as well as LoRA on every layer, in less than half the time, because nothing below
    them builds a backward graph; two blocks learn the tone but few facts.
    """
    return max(1, -(-block_count // 3))


def _full(model: nn.Module) -> MethodSetup:
    for param in model.parameters():
        param.requires_grad_(True)
    return MethodSetup("full", model, [n for n, _ in trainable_parameters(model)])


def _freeze(model: nn.Module, config: FreezeConfig) -> MethodSetup:
    model.requires_grad_(False)
    notes: list[str] = []
    if config.patterns:
        modules = _modules_matching(model, config.patterns)
    else:
        blocks = decoder_blocks(model)
        count = default_trainable_layers(len(blocks))
        if config.trainable_layers is not None:
            count = config.trainable_layers
        if count > len(blocks):
            raise ConfigError(
                f"method.freeze.trainable_layers: {count} is more than the "
                f"model's {len(blocks)} blocks",
                hint=f"use 1..{len(blocks)}, or method.name=full to train everything",
            )
        modules = list(blocks[len(blocks) - count :])
        norm = final_norm(model)
        if config.train_norm and norm is not None:
            modules.append(norm)
        if config.train_head and output_head(model) is not None:
            modules.append(output_head(model))
            if head_is_tied(model):
                notes.append(
                    "the output head is tied to the input embedding, so training it also "
                    "trains the embedding and every block builds a backward graph"
                )
    for module in modules:
        module.requires_grad_(True)
    setup = MethodSetup("freeze", model, [n for n, _ in trainable_parameters(model)], notes)
    setup.first_trainable_block = lowest_trained_block(model)
    return setup


def _lora(model: nn.Module, config: LoraConfig) -> MethodSetup:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    targets = config.targets if isinstance(config.targets, list) else "all-linear"
    peft_config = PeftLoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=targets,
        use_rslora=config.rslora,
        use_dora=config.dora,
        task_type="CAUSAL_LM",
        bias="none",
    )
    try:
        peft_model = get_peft_model(model, peft_config)
    except ValueError as exc:
        raise ConfigError(
            f"method.lora.targets: {exc}",
            hint="use all-linear, or module names such as [q_proj, v_proj]",
        ) from None
    use_fused_lora_forward(peft_model)
    return MethodSetup("lora", peft_model, [n for n, _ in trainable_parameters(peft_model)])


def _modules_matching(model: nn.Module, patterns: list[str]) -> list[nn.Module]:
    matched = [
        module
        for name, module in model.named_modules()
        if name and any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    ]
    if not matched:
        raise ConfigError(
            f"method.freeze.patterns: {patterns} match no module of the model",
            hint="module names look like model.layers.29 or model.norm (glob patterns allowed)",
        )
    return matched


def lowest_trained_block(model: nn.Module) -> int:
    """Index of the lowest block with a trained weight; nothing trains below it.

    Read from the parameters themselves, so patterns, parent modules and a head tied to the
    input embedding are all accounted for: any trained weight outside the blocks other than
    the final norm and an untied head (the embedding, say) feeds every block, so it gives 0.
    """
    blocks = list(decoder_blocks(model))
    for index, block in enumerate(blocks):
        if any(p.requires_grad for p in block.parameters()):
            first = index
            break
    else:
        first = len(blocks)
    above = {id(p) for block in blocks[first:] for p in block.parameters()}
    norm, head = final_norm(model), output_head(model)
    if norm is not None:
        above.update(id(p) for p in norm.parameters())
    if head is not None and not head_is_tied(model):
        above.update(id(p) for p in head.parameters())
    trained_elsewhere = any(p.requires_grad and id(p) not in above for p in model.parameters())
    return 0 if trained_elsewhere else first
