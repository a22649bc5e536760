"""mmseg.utils.malloc in a real process: a step that allocates and frees large tensors stops faulting their pages in
again once freed memory is kept (the cost it removes from CPU training), and nothing else changes."""
import json
import subprocess
import sys

import pytest

PROBE = r'''
import json, resource, sys
import torch
if sys.argv[1] == 'reuse':
    from mmseg.utils.malloc import reuse_freed_memory
    assert reuse_freed_memory()
def step():
    a = torch.ones(16 * 2 ** 20)  # 64 MiB: beyond glibc's largest mmap threshold
    b = a * 2
    return float(b[-1])
for _ in range(4):  # the heap settles within a few steps (measured: by the 4th)
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
values = [step() for _ in range(16)]
print(json.dumps(dict(faults=resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, values=values)))
'''


def _faults(mode):
    out = subprocess.run([sys.executable, '-c', PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc')
def test_freed_memory_is_reused_without_page_faults():
    system, reuse = _faults('system'), _faults('reuse')
    assert system['values'] == reuse['values'] == [2.0] * 16
    # system: every step maps and faults in 128 MiB again (32768 pages of 4 KiB, fewer with huge pages); reuse:
    # the heap already holds the blocks (measured: 0 to 2 of the 32 blocks faulted in again, as the heap's free
    # blocks happen to be split)
    assert system['faults'] > 200
    assert reuse['faults'] < 0.2 * system['faults']
