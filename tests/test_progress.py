"""mmseg.utils.progress: log lines with ETA without a terminal, a tqdm bar with log lines above it on one, and the
progress of the test loop and the dataset converters. (Here rather than under tests/utils/, which another
workstream owns.)"""
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmseg.utils.progress import ProgressLine, format_seconds, progress_iter, progress_map

REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def records():
    logger = logging.getLogger('mmseg.test_progress')
    logger.setLevel(logging.INFO)
    logger.propagate = False
    seen = []
    handler = logging.Handler()
    handler.emit = lambda r: seen.append(r.getMessage())
    logger.addHandler(handler)
    yield logger, seen
    logger.removeHandler(handler)


def _square(x):
    return x * x


def test_line_at_least_every_interval_with_eta(records):
    logger, seen = records
    clock = FakeClock()
    p = ProgressLine(100, 'test', interval=30, tty=False, logger=logger, clock=clock, unit='batch')
    for step in range(100):
        clock.t += 4.0  # 4 s a step: a line every 8 steps (32 s)
        p.update()
        if step == 9:
            assert seen == ['test: 8/100 batch (8%), elapsed 00:32, ETA 06:08']
    p.close()
    assert len(seen) == 100 * 4 // 32 + 1  # every 32 s, and once at the end
    assert seen[-1] == 'test: 100/100 batch (100%), elapsed 06:40, ETA 00:00'
    assert format_seconds(3725) == '1:02:05'


def test_short_runs_and_disabled_ranks_stay_quiet(records):
    logger, seen = records
    clock = FakeClock()
    with ProgressLine(5, 'quick', tty=False, logger=logger, clock=clock) as p:
        for _ in range(5):
            clock.t += 1
            p.update()
    with ProgressLine(5, 'rank1', tty=False, logger=logger, clock=clock, enabled=False) as p:
        for _ in range(5):
            clock.t += 100
            p.update()
    assert seen == []


def test_terminal_bar_keeps_log_lines_off_the_bar(records):
    logger, _ = records
    stream = io.StringIO()
    console = logging.StreamHandler(sys.stdout)
    logger.addHandler(console)
    try:
        with ProgressLine(3, 'bar', tty=True, stream=stream, logger=logger) as p:
            # while the bar is open the console handler is swapped for one writing through tqdm.write
            assert console not in logger.handlers
            p.update(3)
        assert console in logger.handlers  # restored
    finally:
        logger.removeHandler(console)
    assert 'bar: 100%' in stream.getvalue() and '3/3' in stream.getvalue()


def test_progress_iter_closes_on_exception(records):
    logger, _ = records
    with pytest.raises(ValueError):
        for i in progress_iter(range(3), 'boom', enabled=True, interval=0):
            raise ValueError(i)


def test_progress_map_keeps_order_in_a_pool():
    assert progress_map(_square, range(7), nproc=2, desc='squares') == [x * x for x in range(7)]
    assert progress_map(_square, [3], nproc=1) == [9]


def test_piped_converter_prints_progress_lines(tmp_path):
    """A converter run through a pipe (no TTY) logs progress lines with ETA (interval shortened for the test)."""
    code = ('import time, logging\n'
            'from mmseg.utils import get_root_logger\n'
            'from mmseg.utils.progress import progress_map\n'
            'get_root_logger()\n'
            'def slow(x):\n'
            '    time.sleep(0.02)\n'
            '    return x\n'
            'progress_map(slow, range(20), 1, desc="labels", interval=0.05)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if 'labels:' in ln]
    assert len(lines) >= 3 and 'ETA' in lines[0] and lines[-1].endswith('ETA 00:00')
    assert '\r' not in proc.stdout  # no bar redraws in a log


def test_test_loop_logs_progress_lines_without_a_terminal(monkeypatch):
    """single_gpu_test reports through ProgressLine (interval shortened to 0 s for the test)."""
    import functools

    import numpy as np
    import torch

    from mmseg.core.evaluation import loop

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, img, img_metas, return_loss=False, rescale=True):
            return [np.zeros((2, 2), np.int64) for _ in img[0]]

    samples = [dict(img=[torch.zeros(1, 3, 2, 2)], img_metas=[[dict(filename=f'{i}.png')]]) for i in range(4)]
    loader = torch.utils.data.DataLoader(samples, batch_size=1, collate_fn=lambda batch: batch[0])
    seen = []
    handler = logging.Handler()
    handler.emit = lambda r: seen.append(r.getMessage())
    logger = logging.getLogger('mmseg')
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    monkeypatch.setattr(loop, 'progress_iter', functools.partial(progress_iter, interval=0.0))
    try:
        preds = loop.single_gpu_test(Model(), loader)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert len(preds) == 4
    lines = [s for s in seen if s.startswith('test: ')]
    assert lines[0].startswith('test: 1/4 batch (25%), elapsed') and 'ETA' in lines[0]
    assert lines[-1].startswith('test: 4/4 batch (100%)')


def test_byte_counts_in_mib(records):
    logger, seen = records
    clock = FakeClock()
    with ProgressLine(4 * 2 ** 20, 'download w.pth', unit='B', tty=False, logger=logger, clock=clock,
                      interval=1) as p:
        clock.t = 2
        p.update(2 ** 20)
    assert seen[0] == 'download w.pth: 1.0/4.0 MiB (25%), elapsed 00:02, ETA 00:06'
