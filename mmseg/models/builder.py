"""Builders from config dicts (0.24.1's ``build_backbone``/``build_head``/``build_loss``/``build_segmentor``)."""
from typing import Dict, Optional

import torch.nn as nn

from ..registry import MODELS


def build_backbone(cfg: Dict) -> nn.Module:
    """A backbone (e.g. ``dict(type='MSCAN', ...)``)."""
    return MODELS.build(cfg)


def build_head(cfg: Dict) -> nn.Module:
    """A decode head (e.g. ``dict(type='LightHamHead', ...)``)."""
    return MODELS.build(cfg)


def build_loss(cfg: Dict) -> nn.Module:
    """A loss (``CrossEntropyLoss``, ``DiceLoss``, ``FocalLoss``, ``LovaszLoss``)."""
    return MODELS.build(cfg)


def build_neck(cfg: Dict) -> nn.Module:
    raise ValueError(f"build_neck({cfg.get('type') if isinstance(cfg, dict) else cfg!r}): there are no necks here "
                     f"(SegNeXt's EncoderDecoder has none); the model is backbone + decode head")


def build_segmentor(cfg: Dict, train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None) -> nn.Module:
    """Build a segmentor; ``train_cfg``/``test_cfg`` may be given here or inside ``cfg`` (not both)."""
    cfg = dict(cfg)
    for name, value in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
        if value is not None:
            if cfg.get(name) is not None:
                raise ValueError(f'{name} given both as argument and in the model config')
            cfg[name] = value
    return MODELS.build(cfg)
