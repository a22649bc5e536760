"""A depthwise 1×k ("row") convolution whose weight gradient is computed as that of the transposed k×1 problem.

On the CPU, oneDNN's depthwise weight-gradient kernel is fast along the height of a kernel and slow along its width:
for MSCAN-T's first stage (2×32×128×128, channels-last, 2 threads) the weight gradient of the 1×21 conv takes
28.9 ms and that of the 21×1 conv 1.7 ms (``python benchmarks/speed/train_parts.py strip``). Transposing H and W
turns one into the other: ``dL/dw`` of ``conv(x, w)`` equals ``dL/dwᵀ`` of ``conv(xᵀ, wᵀ)`` with gradient ``gᵀ``;
the two transposed copies cost less than the slow kernel (the whole backward 31.5 → 5.6 ms; 0.9× for stage 4's
1×21 on a 16×16 map, where the kernels are fast anyway). Only the backward changes: the forward is the same ``conv2d``
call, so outputs are bit-identical; the weight gradient is the same sum in another order (equal within
float32 rounding, tests/models/utils/test_strip_conv.py); the input and bias gradients are ATen's own.

Used in float32 training on the CPU only; eval, autocast, TorchScript, FX tracing, ``torch.compile`` and other
devices take the plain ``nn.Conv2d`` path. Parameter names are those of ``nn.Conv2d``, so checkpoints are unchanged.
"""
from typing import List, Optional, Tuple

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import register_notrace_module
from torch import Tensor

from .layers import is_channels_last


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def _compiling() -> bool:
    is_compiling = getattr(torch.compiler, 'is_compiling', None)  # torch >= 2.3
    return bool(is_compiling and is_compiling())


class _RowConvTransposedWeightGrad(torch.autograd.Function):
    """Stride-1, dilation-1 grouped conv with a 1×k kernel; see the module docstring."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Optional[Tensor], padding: Tuple[int, int],
                groups: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.groups, ctx.has_bias = padding, groups, bias is not None
        return F.conv2d(x, weight, bias, 1, padding, 1, groups)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        grad = grad.contiguous(memory_format=fmt)
        pad_h, pad_w = ctx.padding
        bias_sizes: Optional[List[int]] = [weight.shape[0]] if ctx.has_bias else None
        grad_x = grad_w = grad_b = None
        if need_x:  # input gradient alone: asking oneDNN for the bias too runs the slow weight kernel as well
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [pad_h, pad_w], [1, 1], False, [0, 0], ctx.groups,
                [True, False, False])[0]
        if need_w or need_b:  # weight (and bias) gradient of the transposed, k×1 problem
            _, grad_wt, grad_b = torch.ops.aten.convolution_backward(
                grad.transpose(2, 3).contiguous(memory_format=fmt), x.transpose(2, 3).contiguous(memory_format=fmt),
                weight.transpose(2, 3), bias_sizes, [1, 1], [pad_w, pad_h], [1, 1], False, [0, 0], ctx.groups,
                [False, need_w, need_b])
            # in the weight's own strides: DDP's gradient buckets compare strides literally
            grad_w = torch.empty_like(weight).copy_(grad_wt.transpose(2, 3)) if need_w else None
        return grad_x, grad_w, grad_b, None, None


@register_notrace_module  # timm's FX feature extraction keeps it as one module call, so FX and eager agree
class RowStripConv(nn.Conv2d):
    """``nn.Conv2d(dim, dim, (1, k), padding=(0, k // 2), groups=dim)`` with the faster CPU training backward."""

    def __init__(self, dim: int, length: int):
        super().__init__(dim, dim, (1, length), padding=(0, length // 2), groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and not torch.jit.is_scripting():
            return self._train_forward(x)
        return self._conv_forward(x, self.weight, self.bias)

    @torch.jit.unused
    def _train_forward(self, x: Tensor) -> Tensor:
        if (not isinstance(x, torch.fx.Proxy) and not _compiling() and x.device.type == 'cpu'
                and torch.is_grad_enabled() and not _cpu_autocast()):
            return _RowConvTransposedWeightGrad.apply(x, self.weight, self.bias, self.padding, self.groups)
        return self._conv_forward(x, self.weight, self.bias)
