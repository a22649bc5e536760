"""Cross-entropy in MMSegmentation 0.24.1's three forms: softmax, sigmoid (binary / multi-label) and mask.

Averaging as 0.24.1: with ``avg_non_ignore=False`` (its default) 'mean' divides the summed loss by every element,
ignored ones included; with True, by the non-ignored ones (``sum / (count + eps)``). Class weights multiply each
pixel's loss and are not part of the divisor.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from .upsample_cross_entropy import upsample_cross_entropy
from .utils import get_class_weight, pick_reduction, weight_reduce_loss


def cross_entropy(pred: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                  class_weight: Optional[Tensor] = None, reduction: str = 'mean',
                  avg_factor: Optional[float] = None, ignore_index: int = -100,
                  avg_non_ignore: bool = False) -> Tensor:
    """Softmax CE of pred (N, C, ...) against class indices label (N, ...)."""
    loss = F.cross_entropy(pred, label, weight=class_weight, reduction='none', ignore_index=ignore_index)
    if avg_factor is None and avg_non_ignore and reduction == 'mean':
        avg_factor = label.numel() - (label == ignore_index).sum().item()
    return weight_reduce_loss(loss, None if weight is None else weight.float(), reduction, avg_factor)


def _expand_onehot_labels(labels: Tensor, label_weights: Optional[Tensor], target_shape, ignore_index: int):
    """Class indices (N, ...) → one-hot (N, C, ...), the per-element weight and the valid mask (both (N, C, ...))."""
    valid = (labels >= 0) & (labels != ignore_index)
    bin_labels = labels.new_zeros(target_shape)
    bin_labels.scatter_(1, labels.masked_fill(~valid, 0).unsqueeze(1), valid.unsqueeze(1).to(labels.dtype))
    valid_mask = valid.unsqueeze(1).expand(target_shape).float()
    if label_weights is None:
        return bin_labels, valid_mask, valid_mask
    return bin_labels, label_weights.unsqueeze(1).expand(target_shape) * valid_mask, valid_mask


def binary_cross_entropy(pred: Tensor, label: Tensor, weight: Optional[Tensor] = None, reduction: str = 'mean',
                         avg_factor: Optional[float] = None, class_weight: Optional[Tensor] = None,
                         ignore_index: int = -100, avg_non_ignore: bool = False, **kwargs) -> Tensor:
    """Sigmoid BCE, elementwise over the C channels.

    pred (N, C, H, W) with label (N, H, W) class indices: one-hot targets, each channel a binary problem;
    label (N, C, H, W): multi-label targets (0/1 per channel, ``ignore_index`` per element);
    pred (N, 1, H, W) with label (N, H, W) in {0, 1}: the one-channel binary form (logit of class 1).
    ``class_weight`` is BCE's ``pos_weight``: one value, or one per channel (0.24.1 passes a per-class list
    unchanged, so PyTorch broadcasts it over the last axis, W, and it fails unless W == C; here it applies per
    channel, which is what the list means).
    """
    if pred.dim() >= 2 and pred.size(1) == 1 and label.dim() == pred.dim() - 1:
        labelled = label[label != ignore_index]
        if labelled.numel() and int(labelled.max()) > 1:
            raise ValueError(f'binary_cross_entropy: a one-channel prediction needs labels 0/1 (and ignore_index '
                             f'{ignore_index}), got label {int(labelled.max())}')
        if class_weight is not None and class_weight.numel() != 1:
            raise ValueError(f'binary_cross_entropy: a one-channel prediction takes one class_weight (the weight '
                             f'of the positive class), got {class_weight.numel()}')
        pred = pred.squeeze(1)  # 0.24.1 squeezes every axis, which breaks batches of one image
    if pred.dim() != label.dim():
        if not ((pred.dim() == 2 and label.dim() == 1) or (pred.dim() == 4 and label.dim() == 3)):
            raise ValueError(f'binary_cross_entropy: pred {tuple(pred.shape)} and label {tuple(label.shape)}: '
                             f'only pred (N, C) with label (N,) or pred (N, C, H, W) with label (N, H, W)')
        label, weight, valid_mask = _expand_onehot_labels(label, weight, pred.shape, ignore_index)
    else:
        valid_mask = ((label >= 0) & (label != ignore_index)).float()
        weight = valid_mask if weight is None else weight * valid_mask
    if reduction == 'mean' and avg_factor is None and avg_non_ignore:
        avg_factor = valid_mask.sum().item()
    pos_weight = class_weight
    if class_weight is not None and class_weight.numel() > 1:
        if class_weight.numel() != pred.size(1):
            raise ValueError(f'binary_cross_entropy: {class_weight.numel()} class weights for {pred.size(1)} '
                             f'channels')
        pos_weight = class_weight.reshape(-1, *([1] * (pred.dim() - 2)))
    loss = F.binary_cross_entropy_with_logits(pred, label.float(), pos_weight=pos_weight, reduction='none')
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


def mask_cross_entropy(pred: Tensor, target: Tensor, label: Tensor, reduction: str = 'mean',
                       avg_factor: Optional[float] = None, class_weight: Optional[Tensor] = None,
                       ignore_index: Optional[int] = None, **kwargs) -> Tensor:
    """BCE of each sample's own class channel: pred (N, C, ...), target (N, ...) float masks, label (N,) the class
    of each mask. Mean only, no ignore index (as 0.24.1). Returns shape (1,)."""
    if ignore_index is not None:
        raise ValueError('mask cross-entropy (use_mask=True) has no ignore_index; call it with ignore_index=None')
    if reduction != 'mean' or avg_factor is not None:
        raise ValueError("mask cross-entropy (use_mask=True) supports reduction='mean' without avg_factor only")
    inds = torch.arange(pred.size(0), dtype=torch.long, device=pred.device)
    pred_slice = pred[inds, label].squeeze(1)
    return F.binary_cross_entropy_with_logits(pred_slice, target, weight=class_weight, reduction='mean')[None]


@LOSSES.register_module()
class CrossEntropyLoss(nn.Module):
    """0.24.1's ``CrossEntropyLoss``.

    Args:
        use_sigmoid: sigmoid BCE per channel (:func:`binary_cross_entropy`: binary, multi-label, one-channel).
        use_mask: mask BCE (:func:`mask_cross_entropy`; needs per-sample class labels, so not for a decode head).
        reduction: 'mean', 'sum' or 'none'.
        class_weight: per-class weights (a list, or a .npy/.json/.yaml/.pkl file holding one).
        loss_weight: multiplies the loss.
        loss_name: the log key; losses with one name are summed.
        avg_non_ignore: average over non-ignored elements only (see the module docstring).
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, reduction: str = 'mean',
                 class_weight: Union[str, Sequence[float], None] = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce', avg_non_ignore: bool = False):
        super().__init__()
        if use_sigmoid and use_mask:
            raise ValueError('CrossEntropyLoss: use_sigmoid and use_mask exclude each other')
        self.reduction = pick_reduction('CrossEntropyLoss', reduction)
        self.use_sigmoid = bool(use_sigmoid)
        self.use_mask = bool(use_mask)
        self.class_weight = get_class_weight(class_weight, 'CrossEntropyLoss')
        self.loss_weight = loss_weight
        self.avg_non_ignore = avg_non_ignore
        self.loss_name = loss_name
        if self.use_sigmoid:
            self.cls_criterion = binary_cross_entropy
        elif self.use_mask:
            self.cls_criterion = mask_cross_entropy
        else:
            self.cls_criterion = cross_entropy

    def extra_repr(self) -> str:
        return f'use_sigmoid={self.use_sigmoid}, use_mask={self.use_mask}, avg_non_ignore={self.avg_non_ignore}'

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = 255, **kwargs) -> Tensor:
        """cls_score (N, C, H, W), label (N, H, W) int64 (or (N, C, H, W) multi-label targets with use_sigmoid) →
        scalar, or per element for reduction 'none'. ``weight``: per-pixel weights (with use_mask: the class of
        each mask). ``ignore_index`` defaults to 255 here (0.24.1's function default is -100; its heads pass
        their own)."""
        reduction = pick_reduction('CrossEntropyLoss', self.reduction, reduction_override)
        class_weight = None if self.class_weight is None else cls_score.new_tensor(self.class_weight)
        if self.use_mask:
            return self.loss_weight * mask_cross_entropy(cls_score, label, weight, reduction=reduction,
                                                         avg_factor=avg_factor, class_weight=class_weight,
                                                         ignore_index=ignore_index)
        return self.loss_weight * self.cls_criterion(
            cls_score, label, weight, class_weight=class_weight, reduction=reduction, avg_factor=avg_factor,
            avg_non_ignore=self.avg_non_ignore, ignore_index=ignore_index, **kwargs)

    def forward_upsampled(self, logits: Tensor, target: Tensor, ignore_index: int = 255,
                          align_corners: bool = False) -> Tuple[Tensor, Tensor]:
        """The loss of ``logits`` (B, K, h, w) bilinearly resized to ``target`` (B, H, W), and ``acc_seg``, without
        building the resized logits (``upsample_cross_entropy``); equal to resize + :meth:`forward` + ``accuracy``
        within float32 rounding. Softmax form with reduction 'mean' or 'sum' only."""
        if self.use_sigmoid or self.use_mask:
            raise ValueError('CrossEntropyLoss.forward_upsampled: the lean loss covers the softmax form only')
        weight = None if self.class_weight is None else logits.new_tensor(self.class_weight, dtype=torch.float32)
        return upsample_cross_entropy(logits, target, ignore_index, align_corners, weight, self.reduction,
                                      self.avg_non_ignore, self.loss_weight)
