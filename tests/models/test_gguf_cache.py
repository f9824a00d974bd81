import pytest

from tunesmith.errors import ModelFormatError
from tunesmith.models import gguf_cache, model_info
from tunesmith.models.gguf_cache import check_gguf_file, ensure_gguf_cache


def test_file_that_is_not_gguf_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_text("this is not a model")
    with pytest.raises(ModelFormatError, match="is not a GGUF file"):
        check_gguf_file(path)


def test_truncated_gguf_is_refused(tmp_path, default_gguf):
    path = tmp_path / "truncated.gguf"
    with default_gguf.open("rb") as source:
        path.write_bytes(source.read(default_gguf.stat().st_size // 2))
    with pytest.raises(ModelFormatError, match="truncated"):
        check_gguf_file(path)


def test_truncated_gguf_fails_through_model_info_too(tmp_path, default_gguf):
    path = tmp_path / "truncated.gguf"
    with default_gguf.open("rb") as source:
        path.write_bytes(source.read(4_000_000))
    with pytest.raises(ModelFormatError, match="damaged or truncated|truncated"):
        model_info(str(path))


def test_interrupted_conversion_leaves_no_cache(tmp_path, default_gguf, monkeypatch):
    def crash(path, dest):
        (dest / "config.json").write_text("{}")  # a partial write, then the crash
        raise KeyboardInterrupt

    monkeypatch.setattr(gguf_cache, "_convert", crash)
    with pytest.raises(KeyboardInterrupt):
        ensure_gguf_cache(default_gguf, "smollm2")
    target = gguf_cache.cache_folder_for(default_gguf, "smollm2")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no staging folder left behind


def test_a_folder_without_marker_is_not_a_cache(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert not gguf_cache.is_complete_cache(tmp_path)
