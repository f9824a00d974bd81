import json

import pytest

from tunesmith import __version__
from tunesmith.cli.main import main


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tunesmith {__version__}"


def test_help_lists_command_groups(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for group in ("models", "config", "demo"):
        assert group in out


def test_unknown_command_is_a_usage_error(capsys):
    assert main(["frobnicate"]) == 2


def test_missing_model_is_a_usage_error_without_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["models", "show", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "no-such-model" in err
    assert "Traceback" not in err


def test_broken_gguf_is_a_failure_without_traceback(capsys, tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_text("not a gguf")
    assert main(["models", "show", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is not a GGUF file" in err
    assert "Traceback" not in err


def test_path_that_is_a_file_is_a_usage_error(capsys, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert main(["models", "show", str(path)]) == 2
    assert "is a file, not a model folder" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_text("not a gguf")
    with pytest.raises(Exception, match="is not a GGUF file"):
        main(["--debug", "models", "show", str(path)])


def test_config_typo_is_a_usage_error_naming_the_key(capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochz: 3\n")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "train.epochz" in err
    assert "did you mean 'epochs'" in err


def test_config_check_prints_resolved_json(capsys):
    assert main(["config", "check", "--set", "train.lr=1e-4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["train"]["lr"] == pytest.approx(1e-4)


def test_config_fields_json_has_help_for_each_key(capsys):
    assert main(["config", "fields", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(row["key"] == "train.lr" and row["help"] for row in rows)


def test_models_show_json_on_a_folder(capsys, tiny_model_dir):
    assert main(["models", "show", str(tiny_model_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"] == 2
    assert data["source_kind"] == "folder"


def test_models_list_json_includes_the_default(capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "smollm2-135m-instruct"


def test_console_script_runs_as_a_subprocess():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli.main", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert __version__ in result.stdout
