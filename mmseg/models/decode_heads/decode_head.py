"""Base decode head: input selection, ``cls_seg`` and the training loss (MMSegmentation 0.24.1 semantics)."""
from typing import Dict, List, Optional, Sequence, Union

import torch.nn as nn
from torch import Tensor

from ...registry import LOSSES
from ..losses import CrossEntropyLoss, accuracy
from ..utils import resize


class BaseDecodeHead(nn.Module):
    """Selects backbone maps by ``in_index``, predicts per-pixel logits, computes losses.

    Args:
        in_channels: channels of the selected maps (list for ``multiple_select``).
        channels: channels before ``conv_seg``.
        num_classes: K.
        dropout_ratio: Dropout2d before ``conv_seg`` (training only).
        in_index: which backbone outputs to use.
        input_transform: None (single map) or 'multiple_select' (list of maps; what LightHamHead uses).
        loss_decode: loss config (or list of configs).
        ignore_index: label value excluded from loss and accuracy.
        lean_loss: compute resize + cross-entropy + ``acc_seg`` with ``CrossEntropyLoss.forward_upsampled``, which
            never builds the label-size logits: less memory and a faster step (T, batch 2, 512²: peak RSS 2182 vs
            3224 MiB; README "Training speed and memory"). The same loss, accuracy and gradients within float32
            rounding (tests), the same sums in another order. None (default): on when every ``loss_decode`` is a
            CrossEntropyLoss with reduction 'mean' or 'sum', else off; True: required (an error otherwise); False:
            the plain path, the official code's op sequence (resize, then the losses).
    """

    def __init__(self, in_channels: Union[int, Sequence[int]], channels: int, *, num_classes: int,
                 dropout_ratio: float = 0.1, conv_cfg: Optional[Dict] = None, norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None, in_index: Union[int, Sequence[int]] = -1,
                 input_transform: Optional[str] = None, loss_decode: Union[Dict, Sequence[Dict]] = None,
                 ignore_index: int = 255, sampler: Optional[Dict] = None, align_corners: bool = False,
                 init_cfg: Optional[Dict] = None, lean_loss: Optional[bool] = None):
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
        loss_decode = loss_decode or dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
        loss_cfgs = [loss_decode] if isinstance(loss_decode, dict) else list(loss_decode)
        self.loss_decode = nn.ModuleList([LOSSES.build(c) for c in loss_cfgs])
        lean_ok = all(isinstance(f, CrossEntropyLoss) and f.reduction in ('mean', 'sum') for f in self.loss_decode)
        if lean_loss and not lean_ok:
            raise ValueError(f"decode head: lean_loss=True needs CrossEntropyLoss losses with reduction 'mean' or "
                             f"'sum', got loss_decode {loss_decode}")
        self.lean_loss = lean_ok if lean_loss is None else bool(lean_loss)
        self.conv_seg = nn.Conv2d(channels, num_classes, 1)
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 else None
        nn.init.normal_(self.conv_seg.weight, 0, 0.01)
        nn.init.zeros_(self.conv_seg.bias)

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
        for loss_fn in self.loss_decode:
            value = loss_fn(seg_logit, seg_label, ignore_index=self.ignore_index)
            loss[loss_fn.loss_name] = loss[loss_fn.loss_name] + value if loss_fn.loss_name in loss else value
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
