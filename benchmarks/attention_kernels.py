"""One causal attention, forward + backward: PyTorch's math kernel vs its CPU flash kernel.

Why the per-example attention of packed rows (src/tunesmith/train/attention.py) asks for the
flash kernel: the math kernel materialises length x length scores, so long examples (answer
notes make them ~650 tokens) cost it the square of their length.

    python benchmarks/attention_kernels.py                    # SmolLM2-135M's 9 heads of 64
    python benchmarks/attention_kernels.py --lengths 256,1024 --repeat 10
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

KERNELS = {"math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION}


def milliseconds(
    kernel: SDPBackend, length: int, heads: int, dim: int, dtype: torch.dtype, repeat: int
) -> float:
    """Mean wall milliseconds of one forward + backward after three warm-ups."""
    q, k, v = (
        torch.randn(1, heads, length, dim, dtype=dtype, requires_grad=True) for _ in range(3)
    )

    def once() -> None:
        with sdpa_kernel(kernel):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.float().sum().backward()

    for _ in range(3):
        once()
    start = time.perf_counter()
    for _ in range(repeat):
        once()
    return (time.perf_counter() - start) / repeat * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="250,650,1000", help="Example lengths in tokens.")
    parser.add_argument("--heads", type=int, default=9)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"threads {torch.get_num_threads()}; ms per forward + backward of one example")
    print("| dtype | tokens | math ms | flash ms | math / flash |")
    print("|---|---|---|---|---|")
    for dtype in (torch.bfloat16, torch.float32):
        for length in (int(n) for n in args.lengths.split(",")):
            ms = {
                name: milliseconds(kernel, length, args.heads, args.dim, dtype, args.repeat)
                for name, kernel in KERNELS.items()
            }
            ratio = ms["math"] / ms["flash"]
            name = str(dtype).removeprefix("torch.")
            print(f"| {name} | {length} | {ms['math']:.2f} | {ms['flash']:.2f} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
