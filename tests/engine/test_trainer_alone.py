"""The Trainer alone: a 1-parameter model, an infinite loader of numbers and one hook (no segmentor, no dataset)."""
import logging
import signal
import weakref

import pytest
import torch
import torch.nn as nn

from mmseg.engine import HookBase, Trainer, TrainingInterrupted
from mmseg.engine.hooks import SignalGuardHook, CheckpointHook


class OneWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return {'loss': ((self.w - x) ** 2).mean()}


def _numbers(start):
    def gen():
        i = start
        while True:
            yield {'x': torch.tensor([float(i % 3)])}
            i += 1
    return gen()


class Writer:
    def __init__(self):
        self.lines, self.closed = [], False

    def write(self, phase, values, step):
        self.lines.append((phase, step, dict(values)))

    def close(self):
        self.closed = True


class Counter(HookBase):
    """Counts steps (its state survives resume), records a value every step, asks to stop at ``stop_at``."""

    def __init__(self, stop_at=None):
        self.steps, self.stop_at = 0, stop_at

    def after_step(self):
        self.steps += 1
        self.trainer.record('train', {'w': self.trainer.model.w.item()})
        if self.trainer.iter == self.stop_at:
            self.trainer.request_stop(signal.SIGUSR1)

    def state_dict(self):
        return {'steps': self.steps}

    def load_state_dict(self, state):
        self.steps = state['steps']


def _trainer(tmp_path, writer=None, max_iters=4):
    model = OneWeight()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return Trainer(model, opt, _numbers, max_iters, 1, str(tmp_path), torch.device('cpu'),
                   make_writers=(lambda: [writer]) if writer else None)


def test_one_parameter_one_hook(tmp_path):
    writer = Writer()
    t = _trainer(tmp_path, writer)
    hook = Counter()
    t.register_hooks([hook])
    assert isinstance(hook.trainer, weakref.ProxyType)  # a hook does not keep its trainer alive
    t.train()
    assert t.iter == 4 and hook.steps == 4 and writer.closed
    assert [(p, s) for p, s, _ in writer.lines] == [('train', i) for i in (1, 2, 3, 4)]
    assert t.latest['train'][0] == 4 and t.latest['train'][1]['w'] == t.model.w.item()
    # plain SGD on (w - x)^2 with x = 0, 1, 2, 0: w = w - 0.2 (w - x)
    w = 0.
    for x in (0., 1., 2., 0.):
        w = w - 0.2 * (w - x)
    assert t.model.w.item() == pytest.approx(w)


def test_request_stop_then_resume_restores_the_hook_state(tmp_path, caplog):
    t = _trainer(tmp_path / 'a')
    ckpt = CheckpointHook(interval=100)
    t.register_hooks([Counter(stop_at=2), ckpt, SignalGuardHook(ckpt)])
    with pytest.raises(TrainingInterrupted) as info:
        t.train()
    assert info.value.signum == signal.SIGUSR1 and info.value.iteration == 2
    meta = torch.load(tmp_path / 'a' / 'iter_2.pth', weights_only=True)['meta']
    assert meta['hooks'] == {'Counter': {'steps': 2}}

    resumed = _trainer(tmp_path / 'b')
    hook = Counter()
    resumed.register_hooks([hook])
    resumed.resume(str(tmp_path / 'a' / 'iter_2.pth'))
    assert resumed.iter == 2 and hook.steps == 2

    class Renamed(Counter):
        state_key = 'renamed'
    other = _trainer(tmp_path / 'c')
    other.register_hooks([Renamed()])
    logger = logging.getLogger('mmseg')
    logger.addHandler(caplog.handler)
    try:
        other.resume(str(tmp_path / 'a' / 'iter_2.pth'))
    finally:
        logger.removeHandler(caplog.handler)
    assert "holds state for a hook 'Counter' that this run does not have" in caplog.text


def test_two_stateful_hooks_with_one_key_are_refused(tmp_path):
    t = _trainer(tmp_path)
    with pytest.raises(ValueError, match="share the state key 'Counter'"):
        t.register_hooks([Counter(), Counter()])
    named = Counter()
    named.state_key = 'second_counter'
    t2 = _trainer(tmp_path)
    t2.register_hooks([Counter(), named])  # distinct keys: fine
