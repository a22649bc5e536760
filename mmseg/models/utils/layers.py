"""Small layers shared by the backbone and the heads: norm factory, stochastic depth, resize."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

# Norm types a config may name, with the attribute name MMSegmentation gives the norm inside a ConvModule
# (checkpoint keys depend on it: `squeeze.gn.weight`).
_NORM_TYPES = {
    'BN': (nn.BatchNorm2d, 'bn'),
    'BN2d': (nn.BatchNorm2d, 'bn'),
    'SyncBN': (nn.SyncBatchNorm, 'bn'),
    'GN': (nn.GroupNorm, 'gn'),
    'LN': (nn.LayerNorm, 'ln'),
}


def build_norm_layer(cfg: Dict, num_features: int) -> Tuple[str, nn.Module]:
    """Build a norm layer from ``dict(type='BN'|'SyncBN'|'GN'|'LN', requires_grad=True, eps=..., ...)``.

    Returns ``(abbreviation, module)``; the abbreviation is the attribute name used inside ConvModule.
    """
    cfg = dict(cfg)
    norm_type = cfg.pop('type', None)
    if norm_type not in _NORM_TYPES:
        raise KeyError(f"norm_cfg type '{norm_type}' is not one of {sorted(_NORM_TYPES)}")
    requires_grad = cfg.pop('requires_grad', True)
    cls, abbr = _NORM_TYPES[norm_type]
    if norm_type == 'GN':
        if 'num_groups' not in cfg:
            raise KeyError("norm_cfg of type 'GN' needs 'num_groups'")
        layer = cls(num_channels=num_features, **cfg)
    else:
        layer = cls(num_features, **cfg)
    for p in layer.parameters():
        p.requires_grad = requires_grad
    return abbr, layer


class DropPath(nn.Module):
    """Per-sample stochastic depth with mmcv's draw: ``mask = floor(keep + U[0, 1))``, output ``x / keep * mask``.

    Same distribution as timm's DropPath; kept as its own layer so seeded training draws the same numbers as the
    official code.
    """

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = (keep + torch.rand(shape, dtype=x.dtype, device=x.device)).floor()
        return x.div(keep) * mask

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


def is_channels_last(x: Tensor) -> bool:
    """True for a 4-d map stored NHWC (and not also NCHW-contiguous, as 1×1 or single-channel maps are)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def resize(x: Tensor, size: Optional[Union[Sequence[int], torch.Size]] = None, scale_factor=None,
           mode: str = 'bilinear', align_corners: Optional[bool] = False) -> Tensor:
    """``F.interpolate`` with the toolbox default of bilinear, ``align_corners=False``.

    Sizes stay as given (plain ints, or symbolic while tracing) so that exported graphs keep dynamic shapes.
    """
    if size is not None:
        size = tuple(size)
    return F.interpolate(x, size=size, scale_factor=scale_factor, mode=mode,
                         align_corners=align_corners if mode in ('bilinear', 'bicubic') else None)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.SyncBatchNorm`` by ``nn.BatchNorm2d`` with the same parameters and statistics."""
    out = module
    if isinstance(module, nn.SyncBatchNorm):
        out = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, revert_sync_batchnorm(child))
    return out
