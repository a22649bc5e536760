"""OpenVINO never leaves a thread's signal stack unmapped (mmseg.deploy.openvino_core): checked with real signals in
fresh interpreters, since a failure kills the process."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PRELUDE = '''
import faulthandler, gc, os, signal, sys, threading
import numpy as np
import openvino as ov, openvino.opset13 as ops
from mmseg.deploy.openvino_core import keep_signal_stack, signal_stack
faulthandler.enable()  # as pytest does: a signal stack of Python's own on the main thread
handled = []
signal.signal(signal.SIGUSR1, lambda *_: handled.append(1))  # Python's handlers run on the signal stack


def mapped(address):
    return any(int(a, 16) <= address < int(b, 16)
               for a, b in (line.split()[0].split('-') for line in open('/proc/self/maps')))


def model(classes=3):
    x = ops.parameter([1, 3, 16, 16], np.float32, name='img')
    w = ops.constant(np.random.default_rng(0).standard_normal((classes, 3, 3, 3)).astype(np.float32))
    return ov.Model([ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1])], [x])


def signal_reaches_handler(where):
    address, _, flags = signal_stack()
    assert flags & 2 or mapped(address), f'{where}: signal stack {address:#x} is not mapped'
    before = len(handled)
    os.kill(os.getpid(), signal.SIGUSR1)  # with an unmapped signal stack: SIGSEGV here
    assert len(handled) == before + 1, where
'''


def _run(body: str):
    out = subprocess.run([sys.executable, '-c', PRELUDE + body], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0 and out.stdout.strip().endswith('ok'), (out.returncode, out.stderr[-3000:])


@pytest.fixture(autouse=True)
def _needs_openvino():
    pytest.importorskip('openvino')
    if not sys.platform.startswith('linux'):
        pytest.skip('reads /proc/self/maps')


def test_runtime_freed_on_another_thread_keeps_the_main_signal_stack(tmp_path):
    """OpenVINORuntime made and run on the main thread, its last reference dropped by a garbage collection on
    another thread (OpenVINO 2026.4 with a Core per runtime: the main thread's signal stack unmapped, the next
    signal SIGSEGV)."""
    _run(f'''
import torch
from mmseg.deploy.openvino_runtime import OpenVINORuntime
ov.save_model(model(), {str(tmp_path / 'm.xml')!r})
for round in range(3):
    held = [OpenVINORuntime(None, num_classes=3, ir_file={str(tmp_path / 'm.xml')!r})]
    assert held[0](torch.ones(1, 3, 16, 16)).shape == (1, 3, 16, 16)
    signal_reaches_handler(f'round {{round}}, runtime alive')
    worker = threading.Thread(target=lambda: (held.clear(), gc.collect()))
    worker.start(); worker.join()
    signal_reaches_handler(f'round {{round}}, runtime freed on another thread')
print('ok')
''')


def test_keep_signal_stack_restores_it_after_cores_freed_in_creation_order():
    """Two Cores of someone else's (NNCF makes its own) freed first-made-first (OpenVINO 2026.4: the second puts
    back the first one's unmapped stack); after the block the thread has its old stack, and Cores freed later
    touch nothing installed."""
    _run('''
before = signal_stack()
late = []
with keep_signal_stack():
    cores = [ov.Core() for _ in range(3)]
    models = [c.compile_model(model(), 'CPU') for c in cores]
    late.append((cores.pop(), models.pop()))  # outlives the block
    for i in range(len(cores)):  # first made, first freed
        models[i] = cores[i] = None
assert signal_stack() == before, (signal_stack(), before)
signal_reaches_handler('after the block')
late.clear(); gc.collect()
signal_reaches_handler('after a Core made in the block was freed')
print('ok')
''')
