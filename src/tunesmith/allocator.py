"""The memory allocator of tunesmith's processes: mimalloc where installed, else the system's.

Why: PyTorch takes every CPU tensor from `malloc` (`posix_memalign`, 64-byte aligned). With
glibc's allocator the heap fragments as packed batches change shape, and each allocation gets
slower as a run goes on. Profiled in the default recipe (2 cores): `posix_memalign` grew from
6% to 18% of the samples between steps 12-30 and 150-170, and steps slowed from 1.5 s to 2.1 s;
a run resumed at step 100 in a fresh process stepped at 1.4 s again. mimalloc (Microsoft's
allocator, shipped as a wheel by `cmeel-mimalloc`) keeps steps flat at about 1.1-1.2 s: 234 s
instead of 325 s for the recipe, back to back (docs/performance.md). No Python API can swap
the allocator of a running process: the dynamic loader must preload it when the process
starts. So the CLI, on start, executes itself again once with `LD_PRELOAD` naming mimalloc;
the arithmetic is untouched (tested: same losses).

`TUNESMITH_MALLOC=system` keeps the system allocator. Only Linux preloads; elsewhere, or when
the wheel is missing, nothing changes.

mimalloc 3 hands freed memory back to the OS 10 ms after it is freed (its purge delay). A
training step frees and takes again the same few GB of activations and gradients every few
seconds, so with that default every step page-faults them in anew: on the default model (2-core
AVX2 CPU, fp32, 8 examples of about 2,500 tokens per step) freeze stepped at 12.5 s and full
fine-tuning at 23 s, with 2.5 and 4.7 million minor page faults in 7 steps. Never purging
(`MIMALLOC_PURGE_DELAY=-1`) gave 8.1 s and 14 s with 0.1 and 0.2 million faults; whole runs
trained 1.23x (freeze) and 1.8x (full) faster with 9-12% more peak resident memory
(docs/performance.md). The process keeps its peak memory until it exits, as glibc's allocator
mostly does too. A value the user set is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

SWITCH = "TUNESMITH_MALLOC"
# Set in the re-executed process, so a preload that did not take never loops.
REEXEC_MARK = "TUNESMITH_MALLOC_REEXEC"
DISTRIBUTION = "cmeel-mimalloc"
LIBRARY = "libmimalloc.so"
# mimalloc's own environment options, set for the re-executed process unless already set.
OPTIONS = {"MIMALLOC_PURGE_DELAY": "-1"}


def mimalloc_library() -> Path | None:
    """Path of the installed mimalloc shared library, or None."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if entry.name == LIBRARY:
            path = Path(str(dist.locate_file(entry))).resolve()
            return path if path.is_file() else None
    return None


def preload_env(env: Mapping[str, str], library: Path | None) -> dict[str, str] | None:
    """`env` with `library` first in LD_PRELOAD and mimalloc's OPTIONS, or None when nothing
    should change."""
    if not sys.platform.startswith("linux") or library is None:
        return None
    if env.get(SWITCH, "").lower() == "system":
        return None
    preloaded = [item for item in env.get("LD_PRELOAD", "").split(":") if item]
    if str(library) in preloaded:
        return None
    return {**OPTIONS, **env, "LD_PRELOAD": ":".join([str(library), *preloaded])}


def reexec_with_mimalloc() -> None:
    """Replace this process by the same command with mimalloc preloaded (at most once).

    Call it first thing in an entry point, before heavy imports: `os.execve` discards the
    interpreter, so the cost is one interpreter start (about 0.1 s).
    """
    if os.environ.get(REEXEC_MARK):
        return
    env = preload_env(os.environ, mimalloc_library())
    if env is None:
        return  # unavailable, turned off, or already preloaded
    env[REEXEC_MARK] = "1"
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execve(sys.executable, argv, env)


def active_allocator() -> str:
    """'mimalloc' when mimalloc is mapped into this process, else 'system'."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return "mimalloc" if "libmimalloc" in maps else "system"


def allocator_options() -> dict[str, str]:
    """mimalloc's settings in this process's environment (recorded with each run)."""
    return {key: value for key, value in os.environ.items() if key.startswith("MIMALLOC_")}
