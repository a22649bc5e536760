"""Conv → norm → activation, with MMSegmentation's attribute names (``conv``, ``bn``/``gn``, ``activate``)."""
from typing import Dict, Optional

import torch.nn as nn
from torch import Tensor

from .layers import build_norm_layer

_ACTIVATIONS = {'ReLU': nn.ReLU, 'GELU': nn.GELU}


class ConvModule(nn.Module):
    """``conv`` (bias only when no norm follows, mmcv's ``bias='auto'``), optional norm, optional activation.

    Weights are initialised at construction as mmcv does: Kaiming-normal (fan_out, relu) conv, zero bias,
    norm weight 1 and bias 0.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias='auto', norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None):
        super().__init__()
        with_norm = norm_cfg is not None
        if bias == 'auto':
            bias = not with_norm
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)
        self.norm_name = None
        if with_norm:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        self.activate = None
        if act_cfg is not None:
            act_cfg = dict(act_cfg)
            act_type = act_cfg.pop('type')
            if act_type not in _ACTIVATIONS:
                raise KeyError(f"act_cfg type '{act_type}' is not one of {sorted(_ACTIVATIONS)}")
            self.activate = _ACTIVATIONS[act_type](**act_cfg)
        self.init_weights()

    @property
    def norm(self) -> Optional[nn.Module]:
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        nn.init.kaiming_normal_(self.conv.weight, a=0, mode='fan_out', nonlinearity='relu')
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        if self.norm is not None:
            nn.init.ones_(self.norm.weight)
            nn.init.zeros_(self.norm.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm_name:
            x = self.norm(x)
        if self.activate is not None:
            x = self.activate(x)
        return x
