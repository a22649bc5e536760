"""Builders from config dicts."""
from typing import Dict, Optional

import torch.nn as nn

from ..registry import MODELS


def build_segmentor(cfg: Dict, train_cfg: Optional[Dict] = None, test_cfg: Optional[Dict] = None) -> nn.Module:
    """Build a segmentor; ``train_cfg``/``test_cfg`` may be given here or inside ``cfg`` (not both)."""
    cfg = dict(cfg)
    for name, value in (('train_cfg', train_cfg), ('test_cfg', test_cfg)):
        if value is not None:
            if cfg.get(name) is not None:
                raise ValueError(f'{name} given both as argument and in the model config')
            cfg[name] = value
    return MODELS.build(cfg)
