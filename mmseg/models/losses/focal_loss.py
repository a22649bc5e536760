"""Sigmoid focal loss (https://arxiv.org/abs/1708.02002) as MMSegmentation 0.24.1 computes it.

0.24.1 has two paths. On CUDA it calls mmcv's compiled ``sigmoid_focal_loss``; on CPU a Python version. For class
index targets they are one formula, and differ only in float32 detail: the kernel takes ``log(max(p, FLT_MIN))`` of
``p = 1 / (1 + exp(-x))``, so for logits beyond about ±16.6 (where ``1 - p`` rounds to 0) the loss saturates at
``87.3·(1-α)`` and its gradient follows the kernel's closed form, while the Python version (BCE with logits times
the focal weight, through autograd) keeps growing linearly. For targets shaped like the prediction (soft or
multi-label), the CUDA path takes their argmax (one class per pixel) and the CPU path uses them as they are.

Here class index targets follow the compiled kernel (:class:`_SigmoidFocalLossFunction` computes its forward and
backward formulas in PyTorch, on any device), so CPU and GPU training agree with 0.24.1 on GPU; targets shaped like
the prediction follow the Python version, the only one that keeps multi-label targets.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...registry import LOSSES
from .utils import get_class_weight, pick_reduction, weight_reduce_loss

_FLT_MIN = torch.finfo(torch.float32).tiny


class _SigmoidFocalLossFunction(torch.autograd.Function):
    """Elementwise focal loss (N, C) of logits x against class indices t (N,), mmcv's kernel formulas:
    ``-α (1-p)^γ log p`` on the target class, ``-(1-α) p^γ log(1-p)`` on the others; the backward is the kernel's
    closed form ``-α (1-p)^γ (1 - p - γ p log p)`` / ``-(1-α) p^γ (γ (1-p) log(1-p) - p)``."""

    @staticmethod
    def forward(ctx, x: Tensor, target: Tensor, gamma: float, alpha: float) -> Tensor:
        is_target = F.one_hot(target, x.size(1)).to(torch.bool)
        p = torch.sigmoid(x)
        log_p = torch.log(p.clamp(min=_FLT_MIN))
        log_1mp = torch.log((1 - p).clamp(min=_FLT_MIN))
        term_p = torch.pow(1 - p, gamma) * log_p
        term_n = torch.pow(p, gamma) * log_1mp
        ctx.save_for_backward(p, log_p, log_1mp, is_target)
        ctx.gamma, ctx.alpha = gamma, alpha
        return torch.where(is_target, -alpha * term_p, -(1 - alpha) * term_n)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        p, log_p, log_1mp, is_target = ctx.saved_tensors
        gamma, alpha = ctx.gamma, ctx.alpha
        grad_p = torch.pow(1 - p, gamma) * (1 - p - gamma * p * log_p)
        grad_n = torch.pow(p, gamma) * (gamma * (1 - p) * log_1mp - p)
        grad = torch.where(is_target, -alpha * grad_p, -(1 - alpha) * grad_n)
        return grad * grad_out, None, None, None


def sigmoid_focal_loss_elementwise(pred: Tensor, target: Tensor, gamma: float = 2.0, alpha: float = 0.25) -> Tensor:
    """mmcv's compiled ``sigmoid_focal_loss(pred, target, gamma, alpha, None, 'none')`` in PyTorch: pred (N, C)
    float logits, target (N,) int64 class indices → (N, C)."""
    if pred.dim() != 2 or target.dim() != 1 or pred.size(0) != target.size(0):
        raise ValueError(f'sigmoid_focal_loss: pred {tuple(pred.shape)} must be (N, C), target '
                         f'{tuple(target.shape)} (N,)')
    return _SigmoidFocalLossFunction.apply(pred, target.long(), float(gamma), float(alpha))


def _alpha_weight(alpha, one_hot: Tensor) -> Tensor:
    return alpha * one_hot + (1 - alpha) * (1 - one_hot)


def py_sigmoid_focal_loss(pred: Tensor, target: Tensor, gamma: float = 2.0, alpha=0.5) -> Tensor:
    """0.24.1's CPU form, elementwise: BCE with logits times ``(α t + (1-α)(1-t)) · |t - p|^γ`` (through autograd);
    target (N, C) may be soft."""
    p = pred.sigmoid()
    target = target.type_as(pred)
    one_minus_pt = (1 - p) * target + p * (1 - target)
    focal_weight = _alpha_weight(alpha, target) * one_minus_pt.pow(gamma)
    return F.binary_cross_entropy_with_logits(pred, target, reduction='none') * focal_weight


@LOSSES.register_module()
class FocalLoss(nn.Module):
    """0.24.1's ``FocalLoss`` (sigmoid form only, as there).

    Args:
        use_sigmoid: must be True.
        gamma: focusing exponent.
        alpha: weight of the positive term, a float or one per class (each class a foreground-vs-rest problem).
        reduction: 'mean' (over every pixel and channel, ignored pixels included, as 0.24.1), 'sum' or 'none'
            (per element, shaped like the prediction).
        class_weight: per-channel weights (a list or a file, see ``CrossEntropyLoss``).
        loss_weight: multiplies the loss.
        loss_name: the log key.

    A one-channel prediction with 0/1 labels is one binary problem whose positive class is label 1 (0.24.1 fails on
    it).
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: Union[float, Sequence[float]] = 0.5,
                 reduction: str = 'mean', class_weight: Union[str, Sequence[float], None] = None,
                 loss_weight: float = 1.0, loss_name: str = 'loss_focal'):
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError('FocalLoss: only the sigmoid focal loss exists (use_sigmoid=True), as in 0.24.1')
        if isinstance(alpha, (list, tuple)):
            alpha = [float(a) for a in alpha]
        elif isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            alpha = float(alpha)
        else:
            raise ValueError(f'FocalLoss: alpha must be a float or a list of floats, got {alpha!r}')
        if not isinstance(gamma, (int, float)) or isinstance(gamma, bool):
            raise ValueError(f'FocalLoss: gamma must be a float, got {gamma!r}')
        self.use_sigmoid = True
        self.gamma = float(gamma)
        self.alpha = alpha
        self.reduction = pick_reduction('FocalLoss', reduction)
        self.class_weight = get_class_weight(class_weight, 'FocalLoss')
        self.loss_weight = float(loss_weight)
        self.loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None,
                ignore_index: int = 255, **kwargs) -> Tensor:
        """pred (B, C, ...) logits; target (B, ...) class indices or (B, C, ...) like pred."""
        if not isinstance(ignore_index, int):
            raise ValueError(f'FocalLoss: ignore_index must be an int, got {ignore_index!r}')
        same_shape = pred.shape == target.shape
        if not same_shape and not (pred.size(0) == target.size(0) and pred.shape[2:] == target.shape[1:]):
            raise ValueError(f'FocalLoss: target {tuple(target.shape)} does not fit pred {tuple(pred.shape)}')
        reduction = pick_reduction('FocalLoss', self.reduction, reduction_override)
        original_shape = pred.shape
        num_classes = pred.size(1)
        flat = pred.transpose(0, 1).reshape(num_classes, -1).transpose(0, 1)  # (N, C), N = all pixels
        if same_shape:
            soft = target.transpose(0, 1).reshape(num_classes, -1).transpose(0, 1)
            valid = (soft.argmax(dim=1) != ignore_index).view(-1, 1)  # as 0.24.1's CPU path
            loss = py_sigmoid_focal_loss(flat, soft, self.gamma, self._alpha(flat))
        else:
            labels = target.reshape(-1)
            valid = (labels != ignore_index).view(-1, 1)
            labels = labels.masked_fill(labels == ignore_index, 0)
            if num_classes == 1:  # one binary problem: label 1 is the positive class
                if labels.numel() and int(labels.max()) > 1:
                    raise ValueError(f'FocalLoss: a one-channel prediction needs labels 0/1, got {int(labels.max())}')
                loss = py_sigmoid_focal_loss(flat, labels.view(-1, 1), self.gamma, self._alpha(flat))
            elif isinstance(self.alpha, list):
                # as 0.24.1 on CUDA: the kernel at α = 0.5, doubled, then each class's own α applied outside
                loss = sigmoid_focal_loss_elementwise(flat, labels, self.gamma, 0.5) * 2
                loss = loss * _alpha_weight(self._alpha(flat), F.one_hot(labels, num_classes).type_as(flat))
            else:
                loss = sigmoid_focal_loss_elementwise(flat, labels, self.gamma, self.alpha)
        final_weight = torch.ones(1, num_classes, dtype=loss.dtype, device=loss.device)
        if weight is not None:
            if weight.shape != loss.shape and weight.size(0) == loss.size(0):
                weight = weight.view(-1, 1)
            final_weight = final_weight * weight
        if self.class_weight is not None:
            final_weight = final_weight * flat.new_tensor(self.class_weight)
        final_weight = final_weight * valid
        loss = self.loss_weight * weight_reduce_loss(loss, final_weight, reduction, avg_factor)
        if reduction == 'none':  # (N, C) → the prediction's shape
            loss = loss.transpose(0, 1).reshape(original_shape[1], original_shape[0], *original_shape[2:])
            loss = loss.transpose(0, 1).contiguous()
        return loss

    def _alpha(self, like: Tensor):
        if isinstance(self.alpha, list):
            if len(self.alpha) != like.size(1):
                raise ValueError(f'FocalLoss: {len(self.alpha)} alpha values for {like.size(1)} classes')
            return like.new_tensor(self.alpha)
        return self.alpha
