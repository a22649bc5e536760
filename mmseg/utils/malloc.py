"""Keep freed memory in the process for the next training step instead of handing it back to the kernel (glibc).

glibc's malloc serves large blocks (beyond its mmap threshold, at most 32 MiB) with ``mmap`` and returns them with
``munmap`` when PyTorch frees them, and it trims the top of its heap as soon as enough is free there. A CPU training
step allocates and frees the same large activations every step, so every step faults them in again page by page:
SegNeXt-T, batch 2, 512², 2 threads, measured 104,000–177,000 page faults per step with the lean loss and
466,000–484,000 (0.8–0.9 s of kernel time) with the plain one. With ``M_MMAP_MAX=0`` (no mmap'd blocks) and a 2 GiB
``M_TRIM_THRESHOLD`` the freed blocks stay mapped and are reused: 200–1,600 faults per step, peak RSS within 3%
(``python benchmarks/speed/train_parts.py malloc``; numbers in benchmarks/speed/README.md). Memory freed after a
peak stays with the process (until it exits), which is what a training process does anyway from its second step on.

The same as starting Python with ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``; other C libraries (musl,
macOS) are left alone.
"""
import ctypes
import ctypes.util
import sys

from .logger import get_root_logger

# mallopt parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 2 ** 31 - 1  # an int: the largest value mallopt takes


def reuse_freed_memory() -> bool:
    """Configure glibc's malloc as described above; True when it took effect, False on another C library."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
        gnu_get_libc_version = libc.gnu_get_libc_version  # glibc only: musl has mallopt as a no-op stub
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    gnu_get_libc_version.restype = ctypes.c_char_p
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    if ok:
        get_root_logger().info('malloc: freed memory kept for reuse (glibc %s: M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GiB; '
                               '--malloc system to opt out)', gnu_get_libc_version().decode())
    return ok
