"""Poly LR with linear warmup exactly as mmcv 1.x PolyLrUpdaterHook (spec §5.1)."""
import pytest
import torch

from mmseg.engine import build_lr_scheduler
from mmseg.utils import ConfigKeyError

SEGNEXT_LR = dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False, warmup='linear', warmup_iters=1500,
                  warmup_ratio=1e-6)


def _optimizer(lrs):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    return torch.optim.AdamW([{'params': [p], 'lr': lr} for p, lr in zip(params, lrs)], lr=lrs[0])


@pytest.mark.parametrize('it', [0, 1, 1499, 1500, 80000, 159999])
def test_poly_linear_warmup_curve(it):
    bases = [6e-5, 6e-4]
    opt = _optimizer(bases)
    sched = build_lr_scheduler(opt, SEGNEXT_LR, max_iters=160000)
    got = sched.step(it)
    for base, lr, group in zip(bases, got, opt.param_groups):
        regular = base * (1 - it / 160000)
        expected = regular * (1 - (1 - it / 1500) * (1 - 1e-6)) if it < 1500 else regular
        assert lr == pytest.approx(expected, rel=1e-12)
        assert group['lr'] == lr


def test_stateless_and_other_warmups():
    opt = _optimizer([1.0])
    sched = build_lr_scheduler(opt, SEGNEXT_LR, max_iters=100)
    first = sched.step(40)
    sched.step(3)
    assert sched.step(40) == first  # depends on the iteration only, so resume needs no scheduler state
    cons = build_lr_scheduler(_optimizer([1.0]), dict(policy='poly', power=2.0, min_lr=0.1, warmup='constant',
                                                      warmup_iters=10, warmup_ratio=0.5), max_iters=100)
    assert cons.step(5)[0] == pytest.approx(((1 - 0.1) * (1 - 5 / 100) ** 2 + 0.1) * 0.5)
    exp = build_lr_scheduler(_optimizer([1.0]), dict(policy='poly', power=1.0, warmup='exp', warmup_iters=10,
                                                     warmup_ratio=0.01), max_iters=100)
    assert exp.step(4)[0] == pytest.approx((1 - 4 / 100) * 0.01 ** (1 - 4 / 10))
    step = build_lr_scheduler(_optimizer([1.0]), dict(policy='step', step=[10, 20], gamma=0.1), max_iters=100)
    assert [step.step(i)[0] for i in (9, 10, 25)] == pytest.approx([1.0, 0.1, 0.01])


def test_bad_policy_is_named():
    with pytest.raises(ConfigKeyError, match='cosine'):
        build_lr_scheduler(_optimizer([1.0]), dict(policy='cosine'), max_iters=10)
