"""Base decode head: input selection, ``cls_seg`` and the training loss (MMSegmentation 0.24.1 semantics), plus
MMSegmentation 1.x's binary form (``out_channels=1`` and a ``threshold``)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

from ...registry import LOSSES
from ...utils import get_root_logger
from ..losses import CrossEntropyLoss, LovaszLoss, accuracy
from ..utils import resize

# MMSegmentation 1.x's threshold when a one-channel head gives none
DEFAULT_BINARY_THRESHOLD = 0.3
_LOGGED = set()


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        get_root_logger().info(message)


def labels_from_logits(logits: Tensor, threshold: Optional[float] = None) -> Tensor:
    """(B, K, H, W) logits → (B, H, W) int64 labels: the argmax, or for one channel (the binary form)
    ``sigmoid(logit) > threshold`` (class 1), as MMSegmentation 1.x."""
    if logits.shape[1] == 1:
        return (logits[:, 0].sigmoid() > (DEFAULT_BINARY_THRESHOLD if threshold is None else threshold)).long()
    return logits.argmax(dim=1)


def probs_from_logits(logits: Tensor) -> Tensor:
    """Softmax over the classes, or the sigmoid of a one-channel (binary) output."""
    return logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(dim=1)


def lean_loss_covers(loss_fn: nn.Module) -> bool:
    """Whether the lean loss (``upsample_cross_entropy``) computes this loss: softmax CE with reduction 'mean' or
    'sum'. Everything else (sigmoid/mask CE, Dice, Focal, Lovász, reduction 'none') takes the plain path."""
    return (isinstance(loss_fn, CrossEntropyLoss) and not loss_fn.use_sigmoid and not loss_fn.use_mask
            and loss_fn.reduction in ('mean', 'sum'))


def _binary_accuracy(logit: Tensor, target: Tensor, threshold: float, ignore_index: int) -> Tensor:
    """``acc_seg`` of a one-channel head: percent of valid pixels whose thresholded label is right."""
    valid = target != ignore_index
    correct = (labels_from_logits(logit, threshold) == target) & valid
    return (correct.sum().float() * 100.0 / valid.sum().clamp(min=1)).reshape(1)


class BaseDecodeHead(nn.Module):
    """Selects backbone maps by ``in_index``, predicts per-pixel logits, computes losses.

    Args:
        in_channels: channels of the selected maps (list for ``multiple_select``).
        channels: channels before ``conv_seg``.
        num_classes: K (2 for a binary task, whether its head has one channel or two).
        out_channels: channels of ``conv_seg``: ``num_classes`` (default), or 1 for a binary task with
            ``num_classes=2`` (MMSegmentation 1.x): the logit of class 1, predicted as ``sigmoid > threshold``; its
            losses take the sigmoid form (``CrossEntropyLoss(use_sigmoid=True)``, ``LovaszLoss(loss_type='binary')``,
            ``DiceLoss``/``FocalLoss`` read it as binary).
        threshold: probability above which a one-channel head predicts class 1 (default 0.3, as 1.x).
        dropout_ratio: Dropout2d before ``conv_seg`` (training only).
        in_index: which backbone outputs to use.
        input_transform: None (single map) or 'multiple_select' (list of maps; what LightHamHead uses).
        loss_decode: loss config (or list of configs).
        ignore_index: label value excluded from loss and accuracy.
        lean_loss: compute resize + cross-entropy + ``acc_seg`` with ``CrossEntropyLoss.forward_upsampled``, which
            never builds the label-size logits: less memory and a faster step (T, batch 2, 512²: peak RSS 2182 vs
            3224 MiB; README "Training speed and memory"). The same loss, accuracy and gradients within float32
            rounding (tests), the same sums in another order. None (default): on when every ``loss_decode`` is a
            softmax CrossEntropyLoss with reduction 'mean' or 'sum', else off (logged once: sigmoid/mask CE, Dice,
            Focal and Lovász are not covered); True: required (an error otherwise); False: the plain path, the
            official code's op sequence (resize, then the losses).
    """

    def __init__(self, in_channels: Union[int, Sequence[int]], channels: int, *, num_classes: int,
                 dropout_ratio: float = 0.1, conv_cfg: Optional[Dict] = None, norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None, in_index: Union[int, Sequence[int]] = -1,
                 input_transform: Optional[str] = None, loss_decode: Union[Dict, Sequence[Dict]] = None,
                 ignore_index: int = 255, sampler: Optional[Dict] = None, align_corners: bool = False,
                 init_cfg: Optional[Dict] = None, lean_loss: Optional[bool] = None,
                 out_channels: Optional[int] = None, threshold: Optional[float] = None):
        super().__init__()
        if conv_cfg is not None or sampler is not None:
            raise ValueError('decode head: conv_cfg and sampler are not supported (SegNeXt uses neither)')
        if input_transform not in (None, 'multiple_select'):
            raise ValueError(f"decode head: input_transform '{input_transform}' is not supported (None or "
                             "'multiple_select'; SegNeXt's head concatenates its inputs itself)")
        if input_transform is not None and len(in_channels) != len(in_index):
            raise ValueError(f'decode head: in_channels {in_channels} and in_index {in_index} differ in length')
        self.in_channels = list(in_channels) if input_transform else in_channels
        self.in_index = list(in_index) if input_transform else in_index
        self.input_transform = input_transform
        self.channels = channels
        self.num_classes = num_classes
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg if act_cfg is not None else dict(type='ReLU')
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.out_channels, self.threshold = self._check_out_channels(num_classes, out_channels, threshold)
        loss_decode = loss_decode or dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
        loss_cfgs = [loss_decode] if isinstance(loss_decode, dict) else list(loss_decode)
        self.loss_decode = nn.ModuleList([LOSSES.build(c) for c in loss_cfgs])
        self._check_losses()
        uncovered = [type(f).__name__ for f in self.loss_decode if not lean_loss_covers(f)]
        if self.out_channels == 1:
            uncovered.append('a one-channel head')
        if lean_loss and uncovered:
            raise ValueError(f"decode head: lean_loss=True needs softmax CrossEntropyLoss losses with reduction "
                             f"'mean' or 'sum', got loss_decode {loss_decode} (out_channels={self.out_channels})")
        if lean_loss is None and uncovered:
            _log_once(f"decode head: lean loss off (it covers softmax CrossEntropyLoss with reduction 'mean'/'sum' "
                      f"only; not {', '.join(sorted(set(uncovered)))}): the plain resize-then-loss path is used")
        self.lean_loss = not uncovered if lean_loss is None else bool(lean_loss)
        self.conv_seg = nn.Conv2d(channels, self.out_channels, 1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None
        nn.init.normal_(self.conv_seg.weight, 0, 0.01)
        nn.init.zeros_(self.conv_seg.bias)

    @staticmethod
    def _check_out_channels(num_classes: int, out_channels: Optional[int], threshold: Optional[float]):
        if out_channels is None:
            out_channels = num_classes
        if out_channels != num_classes and not (out_channels == 1 and num_classes == 2):
            raise ValueError(f'decode head: out_channels={out_channels} with num_classes={num_classes}: '
                             f'out_channels must equal num_classes, or be 1 for a binary task (num_classes=2)')
        if threshold is not None and not 0 < float(threshold) < 1:
            raise ValueError(f'decode head: threshold {threshold} must lie in (0, 1)')
        if out_channels == 1 and threshold is None:
            _log_once(f'decode head: one-channel binary head without a threshold: {DEFAULT_BINARY_THRESHOLD} '
                      f'(as MMSegmentation 1.x)')
            threshold = DEFAULT_BINARY_THRESHOLD
        return out_channels, threshold

    def _check_losses(self) -> None:
        """Reject, before training, loss forms that cannot work with this head's output."""
        for f in self.loss_decode:
            name = type(f).__name__
            if isinstance(f, CrossEntropyLoss) and f.use_mask:
                raise ValueError('decode head: CrossEntropyLoss(use_mask=True) needs one class label per mask, '
                                 'which a segmentation head does not have; use use_sigmoid=True (per-pixel BCE) '
                                 'or the softmax form')
            if self.out_channels == 1 and isinstance(f, CrossEntropyLoss) and not f.use_sigmoid:
                raise ValueError('decode head: a one-channel head (out_channels=1) needs '
                                 'CrossEntropyLoss(use_sigmoid=True); the softmax form needs out_channels=2')
            if isinstance(f, LovaszLoss) and (f.loss_type == 'binary') != (self.out_channels == 1):
                raise ValueError(f"decode head: LovaszLoss(loss_type='{f.loss_type}') with out_channels="
                                 f"{self.out_channels}: the binary hinge takes a one-channel head, multi_class "
                                 f"a head with one channel per class")
            if not hasattr(f, 'loss_name'):
                raise ValueError(f'decode head: loss {name} has no loss_name')

    def _transform_inputs(self, inputs: List[Tensor]) -> Union[Tensor, List[Tensor]]:
        if self.input_transform is None:
            return inputs[self.in_index]
        return [inputs[i] for i in self.in_index]

    def cls_seg(self, feat: Tensor) -> Tensor:
        """(B, channels, h, w) → (B, K, h, w) logits."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.conv_seg(feat)

    def losses(self, seg_logit: Tensor, seg_label: Tensor) -> Dict[str, Tensor]:
        """Resize logits to the label size (B, 1, H, W), then the configured losses and ``acc_seg``."""
        if self.lean_loss:
            return self._lean_losses(seg_logit, seg_label.squeeze(1))
        seg_logit = resize(seg_logit, seg_label.shape[2:], align_corners=self.align_corners)
        seg_label = seg_label.squeeze(1)
        loss: Dict[str, Tensor] = {}
        for loss_fn in self.loss_decode:  # one log key per loss_name; the trainer sums every 'loss' key
            value = loss_fn(seg_logit, seg_label, ignore_index=self.ignore_index)
            loss[loss_fn.loss_name] = loss[loss_fn.loss_name] + value if loss_fn.loss_name in loss else value
        if self.out_channels == 1:
            with torch.no_grad():
                loss['acc_seg'] = _binary_accuracy(seg_logit, seg_label, self.threshold, self.ignore_index)
        else:
            loss['acc_seg'] = accuracy(seg_logit, seg_label, ignore_index=self.ignore_index)
        return loss

    def _lean_losses(self, seg_logit: Tensor, seg_label: Tensor) -> Dict[str, Tensor]:
        loss: Dict[str, Tensor] = {}
        acc = None
        for loss_fn in self.loss_decode:
            value, acc = loss_fn.forward_upsampled(seg_logit, seg_label, self.ignore_index, self.align_corners)
            loss[loss_fn.loss_name] = loss[loss_fn.loss_name] + value if loss_fn.loss_name in loss else value
        loss['acc_seg'] = acc
        return loss

    def forward_train(self, inputs: List[Tensor], img_metas: List[Dict], gt_semantic_seg: Tensor,
                      train_cfg: Optional[Dict] = None) -> Dict[str, Tensor]:
        return self.losses(self(inputs), gt_semantic_seg)

    def forward_test(self, inputs: List[Tensor], img_metas: List[Dict], test_cfg: Optional[Dict] = None) -> Tensor:
        return self(inputs)
