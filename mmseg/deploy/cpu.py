"""What the CPU can do natively, read once from the OS (Linux ``/proc/cpuinfo``; elsewhere from torch).

Used to decide which precisions are worth trying (bf16 only with AVX512-BF16 or AMX; INT8 products without
saturation only with VNNI or AMX) and to fingerprint the machine for the ``backend='auto'`` decision cache.
"""
import functools
import platform
from typing import Dict, FrozenSet

import torch

# The flags that change which kernels the runtimes pick (kept in the fingerprint; the rest of the flag list only
# adds noise between otherwise equal machines, e.g. microcode-dependent mitigations).
KERNEL_FLAGS = ('avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_bf16', 'avx512_fp16',
                'avx512_vnni', 'avx_vnni', 'avx_vnni_int8', 'amx_bf16', 'amx_int8', 'amx_tile', 'amx_fp16')


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> Dict[str, str]:
    info: Dict[str, str] = {}
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            for line in f:
                if ':' in line:
                    key, value = (s.strip() for s in line.split(':', 1))
                    info.setdefault(key, value)  # the first processor's entry
    except OSError:
        pass
    return info


def cpu_flags() -> FrozenSet[str]:
    """The instruction-set flags the OS reports (empty where it reports none)."""
    return frozenset(_cpuinfo().get('flags', '').split())


def cpu_model() -> str:
    return _cpuinfo().get('model name') or platform.processor() or platform.machine()


def kernel_flags() -> Dict[str, bool]:
    """:data:`KERNEL_FLAGS` as a dict, plus torch's own dispatch level (which also covers non-Linux systems)."""
    flags = cpu_flags()
    out = {name: name in flags for name in KERNEL_FLAGS}
    out['torch_capability'] = torch.backends.cpu.get_cpu_capability()
    return out


def native_bf16() -> bool:
    """bf16 arithmetic in hardware (AVX512-BF16 or AMX-BF16); elsewhere oneDNN emulates it, slower than fp32."""
    flags = cpu_flags()
    return bool({'avx512_bf16', 'amx_bf16'} & flags)


def has_vnni() -> bool:
    """8-bit dot products that accumulate in int32 without saturating (AVX512-VNNI, AVX-VNNI or AMX-INT8). Without
    them the u8×s8 pair products of the AVX2/AVX512 kernels add in int16 and can saturate."""
    flags = cpu_flags()
    return bool({'avx512_vnni', 'avx_vnni', 'amx_int8'} & flags)
