"""mmseg.deploy.cpu: which precisions the CPU runs natively, read from its flags; the precision arguments."""
from pathlib import Path

import pytest

from mmseg.apis import init_segmentor
from mmseg.deploy import cpu

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py'


@pytest.mark.parametrize('flags,bf16,vnni', [
    ('fpu sse2 avx2 fma', False, False),                       # AVX2 only: bf16 emulated, int8 products saturate
    ('avx2 avx512f avx512bw avx512_vnni', False, True),        # Cascade Lake
    ('avx2 avx512f avx512_bf16 avx512_vnni avx_vnni', True, True),
    ('avx2 avx512f amx_tile amx_bf16 amx_int8', True, True),   # Sapphire Rapids
    ('', False, False),                                         # nothing reported
])
def test_capabilities_from_flags(monkeypatch, flags, bf16, vnni):
    monkeypatch.setattr(cpu, '_cpuinfo', lambda: {'flags': flags, 'model name': 'Test CPU'})
    assert cpu.native_bf16() is bf16 and cpu.has_vnni() is vnni
    assert cpu.cpu_model() == 'Test CPU'
    kf = cpu.kernel_flags()
    assert set(kf) == set(cpu.KERNEL_FLAGS) | {'torch_capability'}
    assert kf['avx2'] == ('avx2' in flags.split())


def test_this_machine_is_read():
    if not Path('/proc/cpuinfo').is_file():
        pytest.skip('no /proc/cpuinfo')
    assert cpu.cpu_flags() and cpu.cpu_model()


def test_precision_arguments_checked():
    with pytest.raises(ValueError, match='precision must be one of'):
        init_segmentor(str(BASE), precision='fp8')
    with pytest.raises(ValueError, match="'bf16' is not an onnxruntime option"):
        init_segmentor(str(BASE), backend='onnxruntime', precision='bf16')
