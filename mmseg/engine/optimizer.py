"""Optimizer builder with mmcv-1.x-style per-parameter multipliers (``paramwise_cfg``).

Matching rule for ``custom_keys`` (what the official SegNeXt recipe relies on): keys are sorted alphabetically,
then stable-sorted by length (longest first); the first key that is a *substring* of the full dotted parameter
name (``backbone.block1.0.norm1.weight``) sets ``lr = base_lr * lr_mult`` and ``weight_decay = base_wd * decay_mult``.
"""
from typing import Any, Dict, List, Tuple

import torch
import torch.nn as nn

from ..utils import ConfigKeyError
from .checkpoint import unwrap_model

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
_PARAMWISE_KEYS = {'custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult',
                   'bypass_duplicate'}


def _optimizer_class(name: str):
    cls = getattr(torch.optim, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        choices = [n for n in dir(torch.optim) if isinstance(getattr(torch.optim, n), type)]
        import difflib
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise ConfigKeyError(f"optimizer type '{name}' is not a torch.optim optimizer{hint}")
    return cls


def _param_groups(model: nn.Module, base_lr: float, base_wd: float, paramwise: Dict[str, Any]) -> List[dict]:
    unknown = set(paramwise) - _PARAMWISE_KEYS
    if unknown:
        raise ConfigKeyError(f"optimizer.paramwise_cfg got an unknown key '{sorted(unknown)[0]}'")
    custom = paramwise.get('custom_keys', {}) or {}
    keys = sorted(sorted(custom), key=len, reverse=True)  # stable: alphabetical order kept within a length
    bias_lr = paramwise.get('bias_lr_mult', 1.)
    bias_decay = paramwise.get('bias_decay_mult', 1.)
    norm_decay = paramwise.get('norm_decay_mult', 1.)
    dw_decay = paramwise.get('dwconv_decay_mult', 1.)
    bypass_dup = paramwise.get('bypass_duplicate', False)
    groups: List[dict] = []
    seen = set()

    def visit(module: nn.Module, prefix: str) -> None:
        is_norm = isinstance(module, _NORM_TYPES)
        is_dw = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        for pname, param in module.named_parameters(recurse=False):
            if bypass_dup and id(param) in seen:
                continue
            seen.add(id(param))
            group: Dict[str, Any] = {'params': [param]}
            full = f'{prefix}.{pname}' if prefix else pname
            if not param.requires_grad:
                groups.append(group)
                continue
            for key in keys:
                if key in full:
                    mult = custom[key]
                    group['lr'] = base_lr * mult.get('lr_mult', 1.)
                    if base_wd is not None:
                        group['weight_decay'] = base_wd * mult.get('decay_mult', 1.)
                    break
            else:
                # generic multipliers apply only when no custom key matched (mmcv 1.x behaviour)
                if pname == 'bias' and not is_norm:
                    group['lr'] = base_lr * bias_lr
                if base_wd is not None:
                    if is_norm:
                        group['weight_decay'] = base_wd * norm_decay
                    elif is_dw:
                        group['weight_decay'] = base_wd * dw_decay
                    elif pname == 'bias':
                        group['weight_decay'] = base_wd * bias_decay
            groups.append(group)
        for cname, child in module.named_children():
            visit(child, f'{prefix}.{cname}' if prefix else cname)

    visit(model, '')
    return groups


def build_optimizer(model: nn.Module, cfg: Dict[str, Any]) -> torch.optim.Optimizer:
    """Build ``torch.optim.<type>`` from ``cfg`` (``dict(type='AdamW', lr=..., paramwise_cfg=...)``).

    One param group per tensor, like mmcv, so each tensor's lr/wd can be read back with
    :func:`describe_param_groups`. A DDP-wrapped model is unwrapped first.
    """
    cfg = dict(cfg)
    if 'type' not in cfg:
        raise ConfigKeyError(f'optimizer config needs a "type" key, got {cfg!r}')
    cls = _optimizer_class(cfg.pop('type'))
    paramwise = dict(cfg.pop('paramwise_cfg', None) or {})
    cfg.pop('constructor', None)
    model = unwrap_model(model)
    if 'lr' not in cfg:
        raise ConfigKeyError('optimizer config needs an "lr" key')
    if not paramwise:
        return cls(model.parameters(), **cfg)
    groups = _param_groups(model, cfg['lr'], cfg.get('weight_decay'), paramwise)
    return cls(groups, **cfg)


def describe_param_groups(optimizer: torch.optim.Optimizer, model: nn.Module) -> List[Tuple[str, float, float]]:
    """``[(param_name, lr, weight_decay)]`` for every parameter the optimizer holds, in group order.

    Reads ``initial_lr`` when a scheduler already changed ``lr``, so the configured multipliers are visible.
    """
    names = {id(p): n for n, p in unwrap_model(model).named_parameters()}
    rows = []
    for group in optimizer.param_groups:
        lr = group.get('initial_lr', group['lr'])
        for p in group['params']:
            rows.append((names.get(id(p), '?'), lr, group.get('weight_decay', 0.)))
    return rows
