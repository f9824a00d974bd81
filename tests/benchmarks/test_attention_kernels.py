"""The attention-kernel microbenchmark runs end to end in a reduced mode (no timings checked)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "attention_kernels.py"


def test_attention_benchmark_prints_a_row_per_dtype_and_length(capsys) -> None:
    spec = importlib.util.spec_from_file_location("attention_kernels", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--lengths", "8,16", "--heads", "2", "--dim", "8", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("| bfloat16 |") for line in lines) == 2
    assert sum(line.startswith("| float32 |") for line in lines) == 2
