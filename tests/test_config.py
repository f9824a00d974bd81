from pathlib import Path

import pytest
import yaml

from tunesmith.config import (
    TunesmithConfig,
    field_help,
    load_config,
    parse_override,
    save_config,
)
from tunesmith.errors import ConfigError


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_defaults_validate_without_a_file():
    config = load_config()
    assert config.model.name == "smollm2-135m-instruct"
    assert config.method.name == "freeze"
    assert config.method.freeze.trainable_layers is None  # a third of the blocks
    assert config.train.epochs == 3


def test_yaml_file_values_are_loaded(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"train": {"epochs": 2, "batch_size": 4}})
    config = load_config(path)
    assert config.train.epochs == 2
    assert config.train.batch_size == 4


def test_override_sets_a_typed_value():
    config = load_config(None, ["train.lr=1e-4", "method.name=freeze"])
    assert config.train.lr == pytest.approx(1e-4)
    assert isinstance(config.train.lr, float)
    assert config.method.name == "freeze"


def test_override_beats_the_file(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"train": {"batch_size": 4}})
    assert load_config(path, ["train.batch_size=16"]).train.batch_size == 16


def test_nested_override_reaches_method_subsection():
    config = load_config(None, ["method.lora.r=8"])
    assert config.method.lora.r == 8


def test_unknown_key_names_key_suggestion_and_allowed_keys(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"train": {"lrr": 0.001}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "train.lrr" in message
    assert "did you mean 'lr'" in message
    assert "batch_size" in message  # lists what is allowed


def test_unknown_section_is_an_error(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"trian": {"lr": 0.001}})
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        load_config(path)


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.batch_size: .*integer.*'eight'"):
        load_config(None, ["train.batch_size=eight"])


def test_out_of_range_value_names_the_key_and_bound():
    with pytest.raises(ConfigError, match=r"train\.lr: Input should be greater than 0"):
        load_config(None, ["train.lr=-1"])


def test_choice_error_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"method\.name: .*'full', 'freeze' or 'lora'"):
        load_config(None, ["method.name=qlora"])


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_config(None, ["train.lr"])


def test_override_below_a_value_is_an_error():
    with pytest.raises(ConfigError, match="is a value, not a section"):
        load_config(None, ["train.lr=0.1", "train.lr.x=1"])


def test_invalid_yaml_reports_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+:\d+: invalid YAML"):
        load_config(path)


def test_missing_config_file_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.exit_code == 2


def test_top_level_list_is_rejected(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(path)


def test_every_field_has_help_text():
    rows = field_help()
    assert {"model.name", "train.lr", "method.lora.r", "method.freeze.trainable_layers"} <= {
        row["key"] for row in rows
    }
    assert all(row["help"] for row in rows), [row["key"] for row in rows if not row["help"]]


def test_parse_override_types_values_with_yaml():
    assert parse_override("a.b=true") == (["a", "b"], True)
    assert parse_override("a.b=[x, y]") == (["a", "b"], ["x", "y"])
    assert parse_override("a.b=") == (["a", "b"], None)


def test_saved_config_loads_back_identically(tmp_path):
    config = load_config(None, ["train.lr=3e-4", "data.train=examples/x.jsonl"])
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    assert isinstance(config, TunesmithConfig)


@pytest.mark.parametrize(("text", "expected"), [("on", "on"), ("off", "off"), ("'on'", "on")])
def test_compile_switch_accepts_yaml_on_and_off(tmp_path, text, expected):
    path = tmp_path / "c.yaml"
    path.write_text(f"train:\n  compile: {text}\n", encoding="utf-8")
    assert load_config(path).train.compile == expected


def test_compile_switch_accepts_on_as_an_override():
    assert load_config(overrides=["train.compile=on"]).train.compile == "on"
