import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tunesmith.errors import ModelFormatError, UnsafeModelError, UsageError
from tunesmith.models import load_model, model_info


class _Payload:
    """Unpickling this runs code that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def write_malicious_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"model.embed_tokens.weight": _Payload(marker)}))


def test_crafted_pickle_payload_is_live(tmp_path):
    """Control: the payload really runs when unpickled, so the next tests can fail."""
    marker = tmp_path / "marker"
    weights = tmp_path / "pytorch_model.bin"
    write_malicious_pickle(weights, marker)
    code = f"import pickle; pickle.load(open({str(weights)!r}, 'rb'))"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert marker.read_text() == "pwned"


def test_pickle_only_folder_is_refused_without_running_payload(tiny_model_copy, tmp_path):
    marker = tmp_path / "marker"
    (tiny_model_copy / "model.safetensors").unlink()
    write_malicious_pickle(tiny_model_copy / "pytorch_model.bin", marker)
    with pytest.raises(UnsafeModelError) as info:
        load_model(str(tiny_model_copy))
    assert "pytorch_model.bin" in str(info.value)
    assert "safetensors" in str(info.value)
    assert "save_pretrained" in (info.value.hint or "")
    assert not marker.exists()


def test_pickle_beside_safetensors_is_never_opened(tiny_model_copy, tmp_path):
    marker = tmp_path / "marker"
    write_malicious_pickle(tiny_model_copy / "pytorch_model.bin", marker)
    loaded = load_model(str(tiny_model_copy))
    assert loaded.model is not None
    assert not marker.exists()


def test_folder_without_weights_is_an_error(tiny_model_copy):
    (tiny_model_copy / "model.safetensors").unlink()
    with pytest.raises(ModelFormatError, match="config.json but no weights"):
        model_info(str(tiny_model_copy))


def test_folder_without_config_is_an_error(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(ModelFormatError, match="no config.json"):
        model_info(str(folder))


def test_file_that_is_not_a_folder_is_a_usage_error(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("hello")
    with pytest.raises(UsageError, match="is a file, not a model folder"):
        model_info(str(path))


def test_remote_code_is_refused_unless_allowed(tiny_model_copy):
    config_path = tiny_model_copy / "config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    config_path.write_text(json.dumps(config))
    with pytest.raises(UnsafeModelError, match="--trust-remote-code"):
        model_info(str(tiny_model_copy))


def test_unknown_architecture_is_an_error(tiny_model_copy):
    config_path = tiny_model_copy / "config.json"
    config = json.loads(config_path.read_text())
    config["model_type"] = "made_up_arch"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="unknown architecture 'made_up_arch'"):
        model_info(str(tiny_model_copy))
