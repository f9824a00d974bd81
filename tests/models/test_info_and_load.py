import socket

import pytest
import torch

from tunesmith.models import list_models, load_model, model_info


def test_info_counts_parameters_like_the_loaded_model(tiny_model_dir):
    info = model_info(str(tiny_model_dir))
    loaded = load_model(str(tiny_model_dir))
    assert info.parameters == sum(p.numel() for p in loaded.model.parameters())


def test_info_reports_architecture_and_shape(tiny_model_dir):
    info = model_info(str(tiny_model_dir))
    assert info.model_type == "llama"
    assert info.architecture == "LlamaForCausalLM"
    assert (info.layers, info.hidden_size, info.context_length) == (2, 32, 512)
    assert info.vocab_size == 49152
    assert info.chat_template is True
    assert info.dtype == "float32"
    assert info.cache_path is None  # a folder is used in place, never copied


def test_loaded_model_has_tokenizer_with_pad_token(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir))
    assert loaded.tokenizer.pad_token is not None
    assert loaded.tokenizer.chat_template


def test_dtype_option_is_applied(tiny_model_dir):
    from tunesmith.config import ModelConfig

    loaded = load_model(ModelConfig(name=str(tiny_model_dir), dtype="bfloat16"))
    assert loaded.model.dtype == torch.bfloat16


@pytest.fixture
def sockets_forbidden(monkeypatch):
    """Creating any socket fails: proves loading needs no network at all."""

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            raise AssertionError("a socket was created")

    monkeypatch.setattr(socket, "socket", NoSocket)


def test_loading_opens_no_socket(tiny_model_dir, sockets_forbidden):
    loaded = load_model(str(tiny_model_dir))
    assert loaded.model is not None
    assert model_info(str(tiny_model_dir)).parameters > 0


def test_listing_opens_no_socket(sockets_forbidden):
    names = [row.name for row in list_models()]
    assert "smollm2-135m-instruct" in names


@pytest.mark.slow
def test_default_model_loads_and_converts_with_no_socket(
    shared_home, monkeypatch, sockets_forbidden
):
    monkeypatch.setenv("TUNESMITH_HOME", str(shared_home))
    loaded = load_model("smollm2-135m-instruct")
    assert loaded.model.config.num_hidden_layers == 30


@pytest.mark.parametrize(("visible", "expected"), [(True, "cuda"), (False, "cpu")])
def test_inference_device_is_the_gpu_when_one_is_visible(monkeypatch, visible, expected):
    from tunesmith.models import inference_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    assert inference_device() == expected
