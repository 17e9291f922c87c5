"""Keep freed memory in glibc malloc's heap when training on a CPU.

A training step frees its activations and allocates them again the next step. glibc serves blocks above
its mmap threshold (dynamic, at most 32 MiB) with fresh mmaps and gives them back on free, so every step
the kernel maps and zeroes those pages again: on PyramidNet-20 at batch 128, 150,000-260,000 page faults a
step, and 1.2-2x the CPU time of a step without them (docs/benchmarks.md). Raising the mmap threshold (which
also turns off its dynamic adjustment) and the trim threshold keeps those blocks in the heap, where the next
steps reuse them after a few steps of settling. The cost: the process keeps its peak heap rather than giving
it back between steps (peak RSS 10-40% higher there).

Linux with glibc only; elsewhere (macOS, musl, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory_in_heap"]

# mallopt's parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks up to 1 GiB come from the heap, and up to 1 GiB of free memory stays at its top. Older glibc
# refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit): then that is asked for instead.
HEAP_BYTES = 1 << 30
OLD_GLIBC_MAX_MMAP_THRESHOLD = 32 << 20

_applied: bool | None = None


def _mallopt():
    """glibc's mallopt, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt  # musl's returns 0
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def keep_freed_memory_in_heap() -> bool:
    """Set glibc's mmap and trim thresholds once per process; whether they are set (False where unsupported).
    """
    global _applied
    if _applied is None:
        mallopt = _mallopt()
        _applied = bool(mallopt) and bool(
            (mallopt(M_MMAP_THRESHOLD, HEAP_BYTES) or mallopt(M_MMAP_THRESHOLD, OLD_GLIBC_MAX_MMAP_THRESHOLD))
            and mallopt(M_TRIM_THRESHOLD, HEAP_BYTES))
    return _applied
