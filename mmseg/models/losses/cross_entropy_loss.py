"""Softmax cross-entropy with MMSegmentation 0.24.1's averaging."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from .upsample_cross_entropy import upsample_cross_entropy


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """Pixel-wise CE. With ``avg_non_ignore=False`` (official) the summed loss is divided by all pixels, ignored
    ones included; with True, by the non-ignored pixels only."""

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, reduction: str = 'mean',
                 class_weight: Optional[Sequence[float]] = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce', avg_non_ignore: bool = False):
        super().__init__()
        if use_sigmoid or use_mask:
            raise ValueError('CrossEntropyLoss: only the softmax form (use_sigmoid=False) is implemented')
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f"CrossEntropyLoss: reduction '{reduction}' is not one of mean/sum/none")
        self.reduction = reduction
        self.class_weight = class_weight
        self.loss_weight = loss_weight
        self.avg_non_ignore = avg_non_ignore
        self.loss_name = loss_name

    def forward(self, logits: Tensor, target: Tensor, ignore_index: int = 255) -> Tensor:
        """logits (B, K, H, W), target (B, H, W) int64 → scalar (or per-pixel for reduction='none')."""
        weight = None if self.class_weight is None else logits.new_tensor(self.class_weight)
        loss = F.cross_entropy(logits, target, weight=weight, reduction='none', ignore_index=ignore_index)
        if self.reduction == 'none':
            return self.loss_weight * loss
        if self.reduction == 'sum':
            return self.loss_weight * loss.sum()
        if self.avg_non_ignore:
            denom = (target != ignore_index).sum().clamp(min=1)
            return self.loss_weight * loss.sum() / denom
        return self.loss_weight * loss.mean()

    def forward_upsampled(self, logits: Tensor, target: Tensor, ignore_index: int = 255,
                          align_corners: bool = False) -> Tuple[Tensor, Tensor]:
        """The loss of ``logits`` (B, K, h, w) bilinearly resized to ``target`` (B, H, W), and ``acc_seg``, without
        building the resized logits (``upsample_cross_entropy``); equal to resize + :meth:`forward` + ``accuracy``
        within float32 rounding. Needs reduction 'mean' or 'sum'."""
        weight = None if self.class_weight is None else logits.new_tensor(self.class_weight, dtype=torch.float32)
        return upsample_cross_entropy(logits, target, ignore_index, align_corners, weight, self.reduction,
                                      self.avg_non_ignore, self.loss_weight)
