"""Class labels from logits: the one module both the PyTorch path and the runtime backends choose from.

- :func:`upsample_argmax`: ``resize(logits, size).argmax(1)`` with a bounded peak (chunks of classes), bit-identical
  to the plain resize-then-argmax; ``simple_test``'s single-scale path when the PyTorch model computes the logits.
- :func:`labels_from_head_logits`: labels straight from the head's stride-8 logits, interpolating only near class
  boundaries; used when a runtime (onnxruntime, OpenVINO, compiled or bf16 PyTorch) supplies the logits.
- :func:`plain_labels`: the reference chain the other two are tested against.

Boundary-only labels
--------------------
The plain path computes ``argmax(resize(resize(logits, input size), original size))``: two bilinear resizes of a
K-channel map (a third of SegNeXt-T's CPU time at 512×512, K = 150). Every output pixel of that chain is a convex
combination (non-negative weights summing to 1) of at most 3×3 neighbouring low-resolution cells. Where all those
cells have the same argmax class c, c is also the argmax of the combination (each cell's logit of c is ≥ its logit of
any other class, and the inequality survives a convex combination). So only pixels near a class boundary need the
interpolated logits; they are computed exactly (the same separable bilinear weights) for those pixels alone.
Before that, the classes that cannot win anywhere (:func:`candidate_classes`, by the same convexity) are dropped,
so every resize runs over the few classes that can.

The labels equal the plain path's except where two classes' interpolated logits tie to float rounding (the order of
the additions differs); tests/models/segmentors/test_labels.py checks this.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils import resize

# Above this size (bytes) one full-resolution group of class maps is not materialised by the single-scale prediction.
DEFAULT_PREDICT_CHUNK_MB = 64


def upsample_argmax(logits: Tensor, size: Sequence[int], align_corners: bool,
                    max_chunk_bytes: Optional[int] = None) -> Tensor:
    """``resize(logits, size).argmax(1)`` (B, H, W) int64 without holding all K class maps at ``size``.

    Bilinear resizing of an NCHW tensor computes every (sample, class) plane on its own, so resizing a group of
    classes gives exactly those planes of the full resize; a running maximum that only moves on a strictly larger
    value keeps the first maximal class, as ``argmax`` does. The labels are therefore bit-identical to the plain
    path while the peak is one group of at most ``max_chunk_bytes`` (at least one class) plus the running maximum
    and the class index map. ``max_chunk_bytes=None`` is the plain path.
    """
    batch, num_classes = logits.shape[:2]
    height, width = int(size[0]), int(size[1])
    if tuple(logits.shape[2:]) == (height, width):
        return logits.argmax(dim=1)
    plane_bytes = batch * height * width * logits.element_size()
    step = num_classes if max_chunk_bytes is None else max(1, min(num_classes, max_chunk_bytes // plane_bytes))
    if step >= num_classes:  # NCHW: the per-plane kernel (a channels-last resize rounds differently)
        return resize(logits.contiguous(), (height, width), align_corners=align_corners).argmax(dim=1)
    # Classes are copied out of the (possibly channels-last) logits at least 16 at a time: copying single channels
    # out of an NHWC tensor would read all of it once per class.
    gather = max(step, 16)
    best_val: Optional[Tensor] = None
    # int16 while running (a quarter of the int64 map; masked_fill on it is faster than on uint8 on CPU); widened
    # once at the end
    best_idx = torch.zeros((batch, height, width), dtype=torch.int16 if num_classes <= 2**15 else torch.int64,
                           device=logits.device)
    better = torch.empty((batch, height, width), dtype=torch.bool, device=logits.device)
    for g0 in range(0, num_classes, gather):
        block = logits[:, g0:g0 + gather].contiguous()  # NCHW at the input size: small
        for s0 in range(0, block.shape[1], step):
            start = g0 + s0
            part = resize(block[:, s0:s0 + step].contiguous(), (height, width), align_corners=align_corners)
            if part.shape[1] == 1:
                val, idx = part[:, 0], None
            else:
                val, idx = part.max(dim=1)  # the first maximal class within the group, as argmax
            del part
            if best_val is None:
                best_val = val.clone() if idx is None else val
                if idx is not None:
                    best_idx.copy_(idx)
                continue
            torch.gt(val, best_val, out=better)  # strict: on a tie the earlier class stays, as in argmax
            torch.maximum(best_val, val, out=best_val)  # = where(better, val, best_val) for non-NaN logits
            if idx is None:
                best_idx.masked_fill_(better, start)
            else:
                torch.where(better, (idx + start).to(best_idx.dtype), best_idx, out=best_idx)
            del val, idx
        del block
    del best_val, better
    return best_idx.long()

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


def candidate_classes(logits: Tensor, window: int) -> Optional[Tensor]:
    """The classes (ascending indices) that can be the argmax of a convex combination of the cells of some
    ``window``×``window`` block of (B, K, h, w) ``logits``; ``None`` when that is every class.

    A combination's value of class k lies between k's smallest and largest logit in the block, so k can only win
    there if its largest logit reaches the largest smallest logit of any class (the winner's value is at least
    that); a small margin keeps classes that miss it by float rounding of the weights. Dropping the other classes
    leaves every argmax, ties included (they are strictly below the winner), and with ascending indices the first
    maximal class stays the first.
    """
    pad = (0, window - 1, 0, window - 1)
    x = F.pad(logits.contiguous(memory_format=torch.channels_last), pad, mode='replicate')  # NHWC: 6x faster pools
    upper = F.max_pool2d(x, window, stride=1)
    reach = (-F.max_pool2d(-x, window, stride=1)).amax(dim=1, keepdim=True)
    reach = reach - 1e-5 * reach.abs() - 1e-6
    keep = (upper >= reach).flatten(2).any(dim=2).any(dim=0)
    return None if bool(keep.all()) else keep.nonzero()[:, 0]


def labels_from_head_logits(logits: Tensor, mid_size: Sequence[int], out_size: Sequence[int] = None,
                            align_corners: bool = False) -> Tensor:
    """``argmax(resize(resize(logits, mid_size), out_size), dim=1)`` for (B, K, h, w) logits → (B, H0, W0) int64.

    ``mid_size`` is the network input size (where ``encode_decode`` upsamples to), ``out_size`` the original image
    size (``None``: labels at ``mid_size``).
    """
    if logits.dim() != 4:
        raise ValueError(f'labels_from_head_logits: expected (B, K, h, w) logits, got shape {tuple(logits.shape)}')
    out_size = tuple(out_size) if out_size is not None else tuple(mid_size)
    logits = logits.float()
    # Only the classes that can win somewhere go on (on SegNeXt-T's 150 ADE classes at 512x512 with random weights
    # 61, so the resizes below cost 40 %). One resize mixes 2x2 adjacent cells; the chain of two up to 3x3, and the
    # boundary search below uses _WINDOW cells.
    classes = candidate_classes(logits, 2 if tuple(out_size) == tuple(mid_size) else _WINDOW)
    if classes is not None:
        return classes[_labels_from_head_logits(logits.index_select(1, classes), mid_size, out_size, align_corners)]
    return _labels_from_head_logits(logits, mid_size, out_size, align_corners)


def _labels_from_head_logits(logits: Tensor, mid_size: Sequence[int], out_size: Sequence[int],
                             align_corners: bool) -> Tensor:
    b, k, h, w = logits.shape
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
    # Mostly boundaries (noise, untrained weights): the per-pixel gathers would cost more than upsampling all. The
    # share of mixed output pixels is about that of mixed low-res windows; deciding here skips the full-size
    # index maps (on a 512x512 input with 150 classes they cost a third of the plain path).
    if float((~uniform).float().mean()) > _MAX_MIXED:
        return plain_labels(logits, mid_size, out_size, align_corners)

    labels = low_labels[:, ys[:, None], xs[None, :]]  # (B, H0, W0): the window's class where it is uniform
    mixed = ~uniform[:, ys[:, None], xs[None, :]]
    n_mixed = int(mixed.sum())
    if n_mixed == 0:
        return labels
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
    # a bilinear resize to the same size is the identity: skip the pass over K full-size maps
    if out_size is not None and tuple(out_size) != tuple(mid_size):
        x = F.interpolate(x, size=tuple(out_size), mode='bilinear', align_corners=align_corners)
    return x.argmax(dim=1)
