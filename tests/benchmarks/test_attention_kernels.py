"""The attention-kernel microbenchmark runs end to end in a reduced mode (no timings checked)."""

from __future__ import annotations

from tests.conftest import load_benchmark


def test_attention_benchmark_prints_a_row_per_dtype_and_length(capsys) -> None:
    module = load_benchmark("attention_kernels")
    assert module.main(["--lengths", "8,16", "--heads", "2", "--dim", "8", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("| bfloat16 |") for line in lines) == 2
    assert sum(line.startswith("| float32 |") for line in lines) == 2
