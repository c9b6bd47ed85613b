"""Keep freed memory in the process on CPU, so large activations are not page-faulted anew.

A training step allocates and frees the same large activation buffers every time. By
default glibc maps blocks above its mmap threshold (dynamic, at most 32 MiB) afresh and
unmaps them on free, and returns free memory at the heap top beyond its trim threshold,
so a step pays again for page faults and zeroing of the memory it just released.
Raising both thresholds keeps those blocks in the heap for reuse, at the price of a
resident set that stays at its peak: on the synthetic benchmark's bundled config a
one-thread step got 3-9% faster and the two-process run ~15% more referring images/s
(``benchmarks/results/bench_train_allocator_cpu.txt``). Elsewhere (not glibc) this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks up to this size come from the heap (reused) instead of their own mmap; glibc's
# own dynamic threshold stops at 32 MiB.
MMAP_THRESHOLD_BYTES = 1 << 30
# Free memory at the heap top is returned to the system only beyond this.
TRIM_THRESHOLD_BYTES = (1 << 31) - 1


def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep large freed blocks for reuse.

    Returns:
        whether both settings were applied (False off glibc or if glibc refused one).
    """
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    try:
        libc = ctypes.CDLL(path)
        mallopt = libc.mallopt
        # gnu_get_libc_version exists only in glibc: other C libraries are left alone.
        libc.gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied_mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    applied_trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return applied_mmap and applied_trim
