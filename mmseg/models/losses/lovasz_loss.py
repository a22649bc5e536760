"""Lovász losses (Berman et al., https://arxiv.org/abs/1705.08790), MMSegmentation 0.24.1's semantics.

Both sort the per-pixel errors in decreasing order and dot them with the gradient of the Lovász extension of the
Jaccard loss (:func:`lovasz_grad`): the hinge form for one binary logit per pixel, the softmax form per class on the
softmax probabilities. Ignored pixels are dropped before sorting.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from .utils import get_class_weight, pick_reduction, weight_reduce_loss


def lovasz_grad(gt_sorted: Tensor) -> Tensor:
    """Gradient of the Lovász extension with respect to errors sorted in decreasing order (Alg. 1 of the paper):
    the increments of ``1 - |gt ∩ top-k| / |gt ∪ top-k|`` along k."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.float().cumsum(0)
    union = gts + (1 - gt_sorted).float().cumsum(0)
    jaccard = 1. - intersection / union
    if len(gt_sorted) > 1:
        jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def lovasz_hinge_flat(logits: Tensor, labels: Tensor) -> Tensor:
    """Binary Lovász hinge of logits (P,) against 0/1 labels (P,)."""
    if labels.numel() == 0:
        return logits.sum() * 0.  # only ignored pixels: a zero that keeps the graph
    signs = 2. * labels.float() - 1.
    errors = 1. - logits * signs
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(labels[perm]))


def _valid(labels: Tensor, ignore_index: Optional[int]) -> Optional[Tensor]:
    return None if ignore_index is None else labels != ignore_index


def lovasz_hinge(logits: Tensor, labels: Tensor, classes='present', per_image: bool = False,
                 class_weight: Optional[Tensor] = None, reduction: str = 'mean', avg_factor: Optional[float] = None,
                 ignore_index: Optional[int] = 255) -> Tensor:
    """Binary Lovász hinge: logits (B, H, W) or (B, 1, H, W), labels (B, H, W) in {0, 1}. ``classes`` and
    ``class_weight`` are unused (as 0.24.1); ``reduction``/``avg_factor`` apply to the per-image losses."""
    if logits[0].numel() != labels[0].numel():
        raise ValueError(f"LovaszLoss(loss_type='binary'): logits {tuple(logits.shape)} must hold one value per "
                         f"label pixel {tuple(labels.shape)} (a one-channel head, out_channels=1)")

    def flat(lg: Tensor, lb: Tensor) -> Tensor:
        lg, lb = lg.reshape(-1), lb.reshape(-1)
        keep = _valid(lb, ignore_index)
        return lovasz_hinge_flat(lg, lb) if keep is None else lovasz_hinge_flat(lg[keep], lb[keep])

    if per_image:
        losses = torch.stack([flat(lg, lb) for lg, lb in zip(logits, labels)])
        return weight_reduce_loss(losses, None, reduction, avg_factor)
    return flat(logits, labels)


def lovasz_softmax_flat(probs: Tensor, labels: Tensor, classes='present',
                        class_weight: Optional[Tensor] = None) -> Tensor:
    """Multi-class Lovász-Softmax of probs (P, C) against labels (P,): mean over the chosen classes ('all',
    'present' in the labels, or a list) of each class's loss, times its ``class_weight``."""
    if probs.numel() == 0:
        return probs.sum() * 0.  # only ignored pixels
    num_classes = probs.size(1)
    chosen = list(range(num_classes)) if classes in ('all', 'present') else classes
    losses = []
    for c in chosen:
        fg = (labels == c).float()
        if classes == 'present' and fg.sum() == 0:
            continue
        if num_classes == 1:
            if len(classes) > 1:  # 'present'/'all' are strings of length > 1 too, as in 0.24.1
                raise ValueError('LovaszLoss: a one-channel (sigmoid) output takes classes=[1] only; use '
                                 "loss_type='binary' for a one-channel head")
            class_pred = probs[:, 0]
        else:
            class_pred = probs[:, c]
        errors = (fg - class_pred).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        loss = torch.dot(errors_sorted, lovasz_grad(fg[perm]))
        if class_weight is not None:
            loss = loss * class_weight[c]
        losses.append(loss)
    if not losses:  # 'present' with no chosen class in the labels
        return probs.sum() * 0.
    return torch.stack(losses).mean()


def _flatten_probs(probs: Tensor, labels: Tensor, ignore_index: Optional[int]):
    if probs.dim() == 3:  # (B, H, W): a sigmoid output
        probs = probs.unsqueeze(1)
    num_classes = probs.size(1)
    probs = probs.permute(0, 2, 3, 1).reshape(-1, num_classes)
    labels = labels.reshape(-1)
    keep = _valid(labels, ignore_index)
    return (probs, labels) if keep is None else (probs[keep], labels[keep])


def lovasz_softmax(probs: Tensor, labels: Tensor, classes='present', per_image: bool = False,
                   class_weight: Optional[Tensor] = None, reduction: str = 'mean', avg_factor: Optional[float] = None,
                   ignore_index: Optional[int] = 255) -> Tensor:
    """Multi-class Lovász-Softmax: probs (B, C, H, W), labels (B, H, W)."""
    if per_image:
        losses = torch.stack([lovasz_softmax_flat(*_flatten_probs(p.unsqueeze(0), lb.unsqueeze(0), ignore_index),
                                                  classes=classes, class_weight=class_weight)
                              for p, lb in zip(probs, labels)])
        return weight_reduce_loss(losses, None, reduction, avg_factor)
    return lovasz_softmax_flat(*_flatten_probs(probs, labels, ignore_index), classes=classes,
                               class_weight=class_weight)


@LOSSES.register_module()
class LovaszLoss(nn.Module):
    """0.24.1's ``LovaszLoss``.

    Args:
        loss_type: 'multi_class' (Lovász-Softmax on softmax probabilities) or 'binary' (Lovász hinge on a
            one-channel logit).
        classes: 'present', 'all' or a list of class indices (multi_class).
        per_image: the loss per image, then ``reduction`` over images; otherwise over the whole batch, which needs
            ``reduction='none'`` (as 0.24.1).
        reduction: 'mean', 'sum' or 'none' over the per-image losses.
        class_weight: per-class weights (multi_class), a list or a file (see ``CrossEntropyLoss``).
        loss_weight: multiplies the loss.
        loss_name: the log key.
    """

    def __init__(self, loss_type: str = 'multi_class', classes: Union[str, Sequence[int]] = 'present',
                 per_image: bool = False, reduction: str = 'mean',
                 class_weight: Union[str, Sequence[float], None] = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_lovasz'):
        super().__init__()
        if loss_type not in ('binary', 'multi_class'):
            raise ValueError(f"LovaszLoss: loss_type '{loss_type}' is not 'binary' or 'multi_class'")
        if not (classes in ('all', 'present') or (isinstance(classes, (list, tuple))
                                                  and all(isinstance(c, int) for c in classes))):
            raise ValueError(f"LovaszLoss: classes must be 'all', 'present' or a list of ints, got {classes!r}")
        self.reduction = pick_reduction('LovaszLoss', reduction)
        if not per_image and self.reduction != 'none':
            raise ValueError("LovaszLoss: reduction should be 'none' when per_image is False (the batch gives one "
                             "loss; as 0.24.1)")
        self.loss_type = loss_type
        self.cls_criterion = lovasz_hinge if loss_type == 'binary' else lovasz_softmax
        self.classes = list(classes) if isinstance(classes, (list, tuple)) else classes
        self.per_image = per_image
        self.class_weight = get_class_weight(class_weight, 'LovaszLoss')
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = 255, **kwargs) -> Tensor:
        reduction = pick_reduction('LovaszLoss', self.reduction, reduction_override)
        class_weight = None if self.class_weight is None else cls_score.new_tensor(self.class_weight)
        if self.loss_type == 'multi_class':
            cls_score = F.softmax(cls_score, dim=1)
        return self.loss_weight * self.cls_criterion(cls_score, label, self.classes, self.per_image,
                                                     class_weight=class_weight, reduction=reduction,
                                                     avg_factor=avg_factor, ignore_index=ignore_index)
