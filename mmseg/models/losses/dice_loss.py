"""Dice loss (V-Net, https://arxiv.org/abs/1606.04797) with MMSegmentation 0.24.1's exact formula.

Per class c and image n, with p the softmax probability, y the one-hot target and v the valid-pixel mask:
``1 - (2 Σ p·y·v + smooth) / (Σ p^e + Σ y^e + smooth)``; averaged over the images, weighted by ``class_weight``,
summed over the classes and divided by their number. As in 0.24.1 the denominator runs over all pixels: an ignored
pixel adds its probabilities, and its label (``ignore_index`` clamped to the last class) counts as that class.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from .utils import get_class_weight, pick_reduction, weight_reduce_loss


def binary_dice_loss(pred: Tensor, target: Tensor, valid_mask: Tensor, smooth: float = 1,
                     exponent: float = 2) -> Tensor:
    """Per-image Dice loss (N,) of probabilities pred (N, ...) against target (N, ...)."""
    pred = pred.reshape(pred.shape[0], -1)
    target = target.reshape(target.shape[0], -1)
    valid_mask = valid_mask.reshape(valid_mask.shape[0], -1)
    num = torch.sum(pred * target * valid_mask, dim=1) * 2 + smooth
    den = torch.sum(pred.pow(exponent) + target.pow(exponent), dim=1) + smooth
    return 1 - num / den


def dice_loss(prob: Tensor, one_hot: Tensor, valid_mask: Tensor, smooth: float = 1, exponent: float = 2,
              class_weight: Optional[Tensor] = None, ignore_index: int = 255) -> Tensor:
    """Mean over classes (a class index equal to ``ignore_index`` is skipped but still counted, as 0.24.1) of the
    batch-mean Dice loss. prob (N, C, H, W), one_hot (N, H, W, C)."""
    num_classes = prob.shape[1]
    total = prob.new_zeros(())
    for i in range(num_classes):
        if i == ignore_index:
            continue
        loss = binary_dice_loss(prob[:, i], one_hot[..., i], valid_mask, smooth, exponent).mean()
        if class_weight is not None:
            loss = loss * class_weight[i]
        total = total + loss
    return total / num_classes


@LOSSES.register_module()
class DiceLoss(nn.Module):
    """0.24.1's ``DiceLoss``.

    Args:
        smooth: added to numerator and denominator.
        exponent: power of the probabilities and targets in the denominator.
        reduction: as 0.24.1 the loss is one number whatever the reduction; it only matters with ``avg_factor``
            ('mean': ``loss / (avg_factor + eps)``).
        class_weight: per-class weights (a list or a file, see ``CrossEntropyLoss``).
        loss_weight: multiplies the loss.
        ignore_index: this loss's own ignore label (0.24.1 ignores the one the head passes).
        loss_name: the log key.

    A one-channel prediction (a binary head with ``out_channels=1``) is read as the two-channel logits (0, x), so
    its softmax is (1 - sigmoid(x), sigmoid(x)); 0.24.1 has no one-channel Dice.
    """

    def __init__(self, smooth: float = 1, exponent: float = 2, reduction: str = 'mean',
                 class_weight: Union[str, Sequence[float], None] = None, loss_weight: float = 1.0,
                 ignore_index: int = 255, loss_name: str = 'loss_dice', **kwargs):
        super().__init__()
        self.smooth = smooth
        self.exponent = exponent
        self.reduction = pick_reduction('DiceLoss', reduction)
        self.class_weight = get_class_weight(class_weight, 'DiceLoss')
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self.loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor, avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None, **kwargs) -> Tensor:
        """pred (N, C, H, W) logits, target (N, H, W) class indices → scalar."""
        reduction = pick_reduction('DiceLoss', self.reduction, reduction_override)
        class_weight = None if self.class_weight is None else pred.new_tensor(self.class_weight)
        if pred.shape[1] == 1:
            pred = torch.cat([torch.zeros_like(pred), pred], dim=1)
        prob = F.softmax(pred, dim=1)
        num_classes = prob.shape[1]
        one_hot = F.one_hot(torch.clamp(target.long(), 0, num_classes - 1), num_classes=num_classes)
        valid_mask = (target != self.ignore_index).long()
        loss = dice_loss(prob, one_hot, valid_mask, self.smooth, self.exponent, class_weight, self.ignore_index)
        return self.loss_weight * weight_reduce_loss(loss, None, reduction, avg_factor)
