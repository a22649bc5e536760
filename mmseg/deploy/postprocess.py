"""Class labels from the head's stride-8 logits without upsampling all K channels to full resolution.

The plain path computes ``argmax(resize(resize(logits, input size), original size))``: two bilinear resizes of a
K-channel map (a third of SegNeXt-T's CPU time at 512×512, K = 150). Every output pixel of that chain is a convex
combination (non-negative weights summing to 1) of at most 3×3 neighbouring low-resolution cells. Where all those
cells have the same argmax class c, c is also the argmax of the combination (each cell's logit of c is ≥ its logit of
any other class, and the inequality survives a convex combination). So only pixels near a class boundary need the
interpolated logits; they are computed exactly (the same separable bilinear weights) for those pixels alone.

The labels equal the plain path's except where two classes' interpolated logits tie to float rounding (the order of
the additions differs); tests/deploy/test_postprocess.py checks this.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# The window checked around each output pixel's first source cell (see _window_start): cells f-1 .. f+2. One more
# than the 3 cells the chain can reach, so that float rounding of the source index cannot move a cell outside it.
_WINDOW = 4
# Above this fraction of boundary pixels the per-pixel gathers cost more than upsampling everything.
_MAX_MIXED = 0.25


def _axis_weights(low: int, mid: int, out: int, align_corners: bool, device: torch.device) -> Tensor:
    """(out, low) matrix of the composed 1-D bilinear maps low → mid → out (each row sums to 1)."""
    eye = torch.eye(low, device=device).view(1, low, low, 1)  # channel j = unit impulse at cell j
    x = F.interpolate(eye, size=(mid, 1), mode='bilinear', align_corners=align_corners)
    x = F.interpolate(x, size=(out, 1), mode='bilinear', align_corners=align_corners)
    return x.view(low, out).t().contiguous()


def _window_start(weights: Tensor) -> Tensor:
    """Per output index, the first low-res cell of its ``_WINDOW``-wide window: one before the first non-zero
    weight, clamped so that the window stays inside the axis where possible."""
    first = (weights > 0).float().argmax(dim=1)
    return (first - 1).clamp(min=0, max=max(weights.shape[1] - _WINDOW, 0))


def labels_from_head_logits(logits: Tensor, mid_size: Sequence[int], out_size: Sequence[int] = None,
                            align_corners: bool = False) -> Tensor:
    """``argmax(resize(resize(logits, mid_size), out_size), dim=1)`` for (B, K, h, w) logits → (B, H0, W0) int64.

    ``mid_size`` is the network input size (where ``encode_decode`` upsamples to), ``out_size`` the original image
    size (``None``: labels at ``mid_size``).
    """
    if logits.dim() != 4:
        raise ValueError(f'labels_from_head_logits: expected (B, K, h, w) logits, got shape {tuple(logits.shape)}')
    out_size = tuple(out_size) if out_size is not None else tuple(mid_size)
    b, k, h, w = logits.shape
    logits = logits.float()
    wy = _axis_weights(h, mid_size[0], out_size[0], align_corners, logits.device)  # (H0, h)
    wx = _axis_weights(w, mid_size[1], out_size[1], align_corners, logits.device)  # (W0, w)
    ys, xs = _window_start(wy), _window_start(wx)

    low_labels = logits.argmax(dim=1)  # (B, h, w)
    lab = low_labels[:, None].float()
    # window max == window min <=> all cells of the window have the same class
    pad = (0, max(_WINDOW - w, 0) + _WINDOW - 1, 0, max(_WINDOW - h, 0) + _WINDOW - 1)
    hi = F.max_pool2d(F.pad(lab, pad, mode='replicate'), _WINDOW, stride=1)[:, 0, :h, :w]
    lo = -F.max_pool2d(F.pad(-lab, pad, mode='replicate'), _WINDOW, stride=1)[:, 0, :h, :w]
    uniform = hi == lo

    labels = low_labels[:, ys[:, None], xs[None, :]]  # (B, H0, W0): the window's class where it is uniform
    mixed = ~uniform[:, ys[:, None], xs[None, :]]
    n_mixed = int(mixed.sum())
    if n_mixed == 0:
        return labels
    if n_mixed > _MAX_MIXED * mixed.numel():  # mostly boundaries (noise, untrained weights): gathers cost more
        return plain_labels(logits, mid_size, out_size, align_corners)
    # Rows first, for all output rows but the low-res columns only: (B, K, H0, w), w = W/8 so cheap. A resize that
    # keeps the width is the identity along it, so these are the plain chain's row interpolations.
    rows = F.interpolate(logits, size=(mid_size[0], w), mode='bilinear', align_corners=align_corners)
    rows = F.interpolate(rows, size=(out_size[0], w), mode='bilinear', align_corners=align_corners)
    rows = rows.permute(0, 2, 3, 1).contiguous()  # (B, H0, w, K): each gather below reads whole K-vectors
    bi, zi, xi = mixed.nonzero(as_tuple=True)
    acc = torch.zeros(bi.numel(), k, dtype=logits.dtype, device=logits.device)
    for dx in range(min(_WINDOW, w)):
        col = xs[xi] + dx
        acc.addcmul_(wx[xi, col][:, None], rows[bi, zi, col])
    labels[bi, zi, xi] = acc.argmax(dim=1)
    return labels


def plain_labels(logits: Tensor, mid_size: Sequence[int], out_size: Sequence[int] = None,
                 align_corners: bool = False) -> Tensor:
    """The reference: full-resolution upsample(s) of all K channels, then argmax (what ``simple_test`` does). NHWC
    because the CPU kernels of both ops are several times faster in it (the fused PyTorch model's logits are NHWC)."""
    x = logits.contiguous(memory_format=torch.channels_last)
    x = F.interpolate(x, size=tuple(mid_size), mode='bilinear', align_corners=align_corners)
    if out_size is not None:
        x = F.interpolate(x, size=tuple(out_size), mode='bilinear', align_corners=align_corners)
    return x.argmax(dim=1)


def agreement(a: Tensor, b: Tensor) -> Tuple[float, int]:
    """Fraction of equal labels and the number of differing pixels."""
    diff = int((a != b).sum())
    return 1.0 - diff / max(a.numel(), 1), diff
