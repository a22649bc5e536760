"""Inference-only fusion of SegNeXt: fold eval BN, layer scale and the attention shortcut into convolutions.

``fuse_segnext(model)`` rewrites, in place, every MSCAN ``Block`` into a :class:`FusedBlock` and folds each
patch-embed BN into the conv before it. The outputs equal the unfused eval model up to float rounding (the folded
weights are computed in float64). Per block this removes two BN passes, two layer-scale multiplies and one add:

* ``BN1(x) = s1·x + t1`` feeds the 1×1 ``proj_1``: folded into its weights and bias. The attention's inner
  shortcut also adds ``BN1(x)``, so with the block residual the first half is
  ``x + ls1·(proj_2(m) + s1·x + t1) = (1 + ls1·s1)·x + [ls1·proj_2](m) + ls1·t1``:
  ``ls1`` and ``ls1·t1`` go into ``proj_2``, and ``1 + ls1·s1`` becomes one per-channel ``addcmul``.
* ``BN2`` folds into the 1×1 ``fc1`` (nothing else reads ``BN2(x)``) and ``ls2`` into ``fc2``.

On CPU it also switches the backbone to channels-last (NHWC) maps and weights, the layout in which oneDNN's
depthwise convs are fast; that is most of the gain (benchmarks/speed/README.md).

The fused model is inference-only: parameters are frozen, dropout / drop path are gone and BN statistics are
baked in, so calling ``.train()`` on it raises. Its state dict no longer has the checkpoint layout; fuse after
loading a checkpoint.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ['FusedBlock', 'FusedMSCA', 'fuse_segnext', 'fold_bn_after_conv', 'bn_affine']


def bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> Tuple[Tensor, Tensor]:
    """Eval BN as ``y = s·x + t`` per channel; (C,) float64 ``s`` and ``t``."""
    var, mean = bn.running_var.double(), bn.running_mean.double()
    weight = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    bias = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    s = weight / torch.sqrt(var + bn.eps)
    return s, bias - mean * s


def _conv_like(conv: nn.Conv2d, weight: Tensor, bias: Tensor) -> nn.Conv2d:
    """A copy of ``conv``'s geometry with the given (float64) weight and bias, in conv's dtype/device."""
    out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=True, padding_mode=conv.padding_mode)
    ref = conv.weight
    out.weight = nn.Parameter(weight.to(ref.dtype).to(ref.device), requires_grad=False)
    out.bias = nn.Parameter(bias.to(ref.dtype).to(ref.device), requires_grad=False)
    return out


def _conv_params(conv: nn.Conv2d) -> Tuple[Tensor, Tensor]:
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else w.new_zeros(conv.out_channels)
    return w, b


def fold_bn_after_conv(conv: nn.Conv2d, bn: nn.modules.batchnorm._BatchNorm) -> nn.Conv2d:
    """``BN(conv(x))`` as one conv: rows scaled by ``s``, bias ``s·b + t``."""
    s, t = bn_affine(bn)
    w, b = _conv_params(conv)
    return _conv_like(conv, w * s[:, None, None, None], b * s + t)


def _fold_affine_before_1x1(conv: nn.Conv2d, s: Tensor, t: Tensor) -> nn.Conv2d:
    """``conv(s·x + t)`` for a 1×1 ungrouped conv: columns scaled by ``s``, bias ``b + W·t``.

    (Only exact for 1×1 kernels: with padding a k×k conv would see ``t`` where it sees zeros now.)"""
    if conv.kernel_size != (1, 1) or conv.groups != 1:
        raise ValueError(f'can only fold an input affine into an ungrouped 1x1 conv, got {conv}')
    w, b = _conv_params(conv)
    return _conv_like(conv, w * s[None, :, None, None], b + w[:, :, 0, 0] @ t)


def _scale_conv_output(conv: nn.Conv2d, scale: Tensor, shift: Tensor) -> nn.Conv2d:
    """``scale·conv(x) + shift`` per output channel as one conv."""
    w, b = _conv_params(conv)
    return _conv_like(conv, w * scale[:, None, None, None], b * scale + shift)


def _gelu_(x: Tensor) -> Tensor:
    """Exact (erf) GELU in place: the conv outputs it is applied to are fresh, and skipping a new buffer per
    call saves a page-faulting allocation of the largest maps."""
    return torch.ops.aten.gelu_(x)


class FusedMSCA(nn.Module):
    """MSCA with the branch sum accumulated in place (same additions, so the same values; fewer buffers).

    Merging the three 1×k convs into one conv with 3 outputs per channel was measured and lost: oneDNN has a fast
    kernel only for true depthwise convs (one output per group), see benchmarks/speed/README.md."""

    def __init__(self, msca: nn.Module):
        super().__init__()
        for name in ('conv0', 'conv0_1', 'conv0_2', 'conv1_1', 'conv1_2', 'conv2_1', 'conv2_2', 'conv3'):
            setattr(self, name, getattr(msca, name))

    def forward(self, u: Tensor) -> Tensor:
        a = self.conv0(u)
        # a + b0 + b1 + b2 in the original order (IEEE addition commutes, so b0 + a == a + b0 bit for bit)
        acc = self.conv0_2(self.conv0_1(a)).add_(a)
        acc.add_(self.conv1_2(self.conv1_1(a)))
        acc.add_(self.conv2_2(self.conv2_1(a)))
        return self.conv3(acc).mul_(u)


class FusedBlock(nn.Module):
    """An eval-mode MSCAN ``Block`` with BN, layer scale and the attention shortcut folded (module docstring)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        ls1 = block.layer_scale_1.detach().double()
        ls2 = block.layer_scale_2.detach().double()
        s1, t1 = bn_affine(block.norm1)
        s2, t2 = bn_affine(block.norm2)
        attn, mlp = block.attn, block.mlp
        self.proj_1 = _fold_affine_before_1x1(attn.proj_1, s1, t1)
        self.spatial_gating_unit = FusedMSCA(attn.spatial_gating_unit)
        self.proj_2 = _scale_conv_output(attn.proj_2, ls1, ls1 * t1)
        self.register_buffer('skip_scale', (1 + ls1 * s1).to(block.layer_scale_1.dtype)[:, None, None])
        self.fc1 = _fold_affine_before_1x1(mlp.fc1, s2, t2)
        self.dwconv = mlp.dwconv.dwconv
        self.fc2 = _scale_conv_output(mlp.fc2, ls2, torch.zeros_like(ls2))

    def train(self, mode: bool = True) -> 'FusedBlock':
        if mode:
            raise RuntimeError('this MSCAN was fused by fuse_segnext() for inference; BN statistics and layer '
                               'scales are baked in. Rebuild the model and load the checkpoint to train it.')
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) → (B, C, H, W). In-place adds are safe: the parameters are frozen at fusion."""
        y = self.proj_2(self.spatial_gating_unit(_gelu_(self.proj_1(x))))
        x = y.addcmul_(x, self.skip_scale)
        return x.add_(self.fc2(_gelu_(self.dwconv(self.fc1(x)))))


@torch.no_grad()
def fuse_segnext(model: nn.Module, channels_last: Optional[bool] = None) -> nn.Module:
    """Fuse an MSCAN or a segmentor holding one (``model.backbone``) for inference, in place; returns ``model``.

    Args:
        model: MSCAN / MSCANClassifier / EncoderDecoder with an MSCAN backbone, with its final weights loaded.
        channels_last: run the backbone NHWC and store the conv weights NHWC (the fast layout for oneDNN's
            depthwise convs). ``None``: on CPU only.
    """
    from ..backbones.mscan import MSCAN, Block, OverlapPatchEmbed, StemConv
    if getattr(model, '_segnext_fused', False):
        return model
    backbone = model if isinstance(model, MSCAN) else getattr(model, 'backbone', None)
    if not isinstance(backbone, MSCAN):
        raise TypeError(f'fuse_segnext: expected an MSCAN or a segmentor with an MSCAN backbone, got '
                        f'{type(model).__name__}')
    model.eval()
    for module in list(backbone.modules()):
        if isinstance(module, StemConv):
            seq = module.proj
            seq[0], seq[1] = fold_bn_after_conv(seq[0], seq[1]), nn.Identity()
            seq[3], seq[4] = fold_bn_after_conv(seq[3], seq[4]), nn.Identity()
        elif isinstance(module, OverlapPatchEmbed):
            module.proj, module.norm = fold_bn_after_conv(module.proj, module.norm), nn.Identity()
    for i in range(backbone.num_stages):
        blocks = getattr(backbone, f'block{i + 1}')
        for j, blk in enumerate(blocks):
            if isinstance(blk, Block):
                blocks[j] = FusedBlock(blk)
    for p in model.parameters():
        p.requires_grad_(False)
    if channels_last is None:
        channels_last = next(model.parameters()).device.type == 'cpu'
    backbone.channels_last = channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model._segnext_fused = True
    return model
