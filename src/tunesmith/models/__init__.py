"""Models: resolve a name or path, check it is safe, load it offline, describe it."""

from tunesmith.models.info import ModelInfo, ModelListing, list_models, model_info
from tunesmith.models.loader import (
    LoadedModel,
    inference_device,
    load_model,
    load_tokenizer,
    resolve_dtype,
)
from tunesmith.models.registry import EMBEDDED_MODELS, EmbeddedModel
from tunesmith.models.resolve import ModelSource, model_folder, resolve_source

__all__ = [
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "LoadedModel",
    "ModelInfo",
    "ModelListing",
    "ModelSource",
    "inference_device",
    "list_models",
    "load_model",
    "load_tokenizer",
    "model_folder",
    "model_info",
    "resolve_dtype",
    "resolve_source",
]
