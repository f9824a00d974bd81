"""Every config file shipped in examples/ parses and validates."""

from pathlib import Path

import pytest

from tunesmith.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "examples").glob("**/configs/*.yaml"))


def test_examples_ship_configs():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_validates_and_points_at_real_data(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = load_config(path)
    assert config.data.train is not None and config.data.train.is_file()
