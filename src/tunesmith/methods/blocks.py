"""Find a causal LM's transformer blocks, final norm and output head by module structure.

Trainability is decided from the model's structure (the decoder's block list), never from
substrings of parameter names, so the same code serves Llama, Mistral, Qwen, Gemma, Phi, ...
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tunesmith.errors import ModelFormatError


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The ordered list of transformer blocks."""
    decoder = _decoder(model)
    layers = getattr(decoder, "layers", None) or getattr(decoder, "h", None)
    if isinstance(layers, nn.ModuleList) and len(layers) > 0:
        return layers
    candidates = [m for m in decoder.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    if not candidates:
        raise ModelFormatError(f"cannot find the transformer blocks of {type(model).__name__}")
    return max(candidates, key=len)


def final_norm(model: nn.Module) -> nn.Module | None:
    """The normalisation applied after the last block, if the model has one."""
    decoder = _decoder(model)
    for name in ("norm", "final_layernorm", "ln_f"):
        module = getattr(decoder, name, None)
        if isinstance(module, nn.Module):
            return module
    return None


def output_head(model: nn.Module) -> nn.Module | None:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return head if isinstance(head, nn.Module) else None


def head_is_tied(model: nn.Module) -> bool:
    """Whether the output head shares its weight with the input embedding."""
    head = output_head(model)
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return head is not None and embed is not None and head.weight is embed.weight


def _decoder(model: Any) -> nn.Module:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if hasattr(base, "get_decoder"):
        decoder = base.get_decoder()
        if isinstance(decoder, nn.Module):
            return decoder
    return getattr(base, "model", base)
