"""Iteration-based learning-rate policies with warmup, following mmcv 1.x ``LrUpdaterHook`` formulas.

The scheduler is stateless: ``step(it)`` sets every group's lr from its initial lr and the 0-based iteration
index ``it``, so a resumed run only needs the iteration counter.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Union

import torch

from ..utils import ConfigKeyError

_POLICIES = ('poly', 'step', 'exp', 'fixed')
_WARMUPS = (None, 'linear', 'constant', 'exp')


class LrScheduler:
    """Set ``lr`` of each optimizer param group before every iteration.

    Policies: ``poly`` ((base − min_lr)·(1 − it/max_iters)^power + min_lr), ``step`` (base·gamma^#passed steps,
    floored at ``min_lr``), ``exp`` (base·gamma^it), ``fixed``. Warmups (for ``it < warmup_iters``) scale the
    regular lr: ``linear`` by 1 − (1 − it/warmup_iters)(1 − ratio), ``constant`` by ratio,
    ``exp`` by ratio^(1 − it/warmup_iters).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, max_iters: int, policy: str = 'poly',
                 power: float = 1., min_lr: float = 0., gamma: float = 0.1,
                 step: Optional[Union[int, Sequence[int]]] = None, warmup: Optional[str] = None,
                 warmup_iters: int = 0, warmup_ratio: float = 0.1, by_epoch: bool = False) -> None:
        if policy not in _POLICIES:
            raise ConfigKeyError(f"lr_config.policy '{policy}' is not one of {_POLICIES}")
        if warmup not in _WARMUPS:
            raise ConfigKeyError(f"lr_config.warmup '{warmup}' is not one of {_WARMUPS}")
        if by_epoch:
            raise ConfigKeyError('lr_config.by_epoch=True is not supported: training is iteration based')
        if warmup is not None and warmup_iters <= 0:
            raise ConfigKeyError(f'lr_config.warmup_iters must be > 0 with warmup, got {warmup_iters}')
        if not 0 < warmup_ratio <= 1:
            raise ConfigKeyError(f'lr_config.warmup_ratio must be in (0, 1], got {warmup_ratio}')
        if policy == 'step' and step is None:
            raise ConfigKeyError("lr_config.policy 'step' needs a 'step' key")
        self.optimizer = optimizer
        self.max_iters = int(max_iters)
        self.policy, self.power, self.min_lr, self.gamma = policy, power, min_lr, gamma
        self.every = step if isinstance(step, int) else None  # int: decay every k iterations (mmcv)
        self.steps = [] if isinstance(step, int) else sorted(step or [])
        self.warmup, self.warmup_iters, self.warmup_ratio = warmup, int(warmup_iters), warmup_ratio
        for group in optimizer.param_groups:
            group.setdefault('initial_lr', group['lr'])
        self.base_lrs = [g['initial_lr'] for g in optimizer.param_groups]

    def regular_lr(self, base: float, it: int) -> float:
        if self.policy == 'poly':
            return (base - self.min_lr) * (1 - it / self.max_iters) ** self.power + self.min_lr
        if self.policy == 'exp':
            return base * self.gamma ** it
        if self.policy == 'step':
            n = it // self.every if self.every else sum(it >= s for s in self.steps)
            return max(base * self.gamma ** n, self.min_lr)
        return base

    def lr_at(self, base: float, it: int) -> float:
        lr = self.regular_lr(base, it)
        if self.warmup is None or it >= self.warmup_iters:
            return lr
        progress = it / self.warmup_iters
        if self.warmup == 'linear':
            return lr * (1 - (1 - progress) * (1 - self.warmup_ratio))
        if self.warmup == 'constant':
            return lr * self.warmup_ratio
        return lr * self.warmup_ratio ** (1 - progress)

    def step(self, it: int) -> List[float]:
        """Set the lr for 0-based iteration ``it``; return the new lrs."""
        lrs = [self.lr_at(b, it) for b in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group['lr'] = lr
        return lrs


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: Dict[str, Any], max_iters: int) -> LrScheduler:
    """Build from an mmseg ``lr_config`` dict (``policy='poly', power=1.0, warmup='linear', ...``)."""
    cfg = dict(cfg)
    try:
        sched = LrScheduler(optimizer, max_iters, **cfg)
    except TypeError as e:  # unknown key
        raise ConfigKeyError(f'lr_config: {e}') from None
    if not math.isfinite(sched.min_lr):
        raise ConfigKeyError(f'lr_config.min_lr must be finite, got {sched.min_lr}')
    return sched
