"""Bilinear upsampling + softmax cross-entropy + pixel accuracy in one pass over row chunks (the "lean" loss).

The plain training loss resizes the (B, K, h, w) stride-8 logits to the label size (B, K, H, W), takes a
log-softmax, picks the target, and in backward allocates a zero-filled (B, K, H, W) gradient, the log-softmax
gradient and the upsample gradient: for SegNeXt at 512×512 with 150 classes each such tensor is 157 MiB per image.
Here the full-resolution logits are never built. Bilinear interpolation is separable: the horizontal pass runs once
on the small map (B, K, h, W); each chunk of output rows is then a weighted sum of two of those rows. Per chunk the
row maximum, ``exp(z - max)`` in place, its sum, the loss (``log Σ + max - z_target``), the accuracy and the gradient
(softmax minus one-hot, scaled) are computed while the chunk is in cache, and the gradient goes straight back through
the vertical interpolation. The gradient of the small logits is therefore known at the end of the forward and
``backward`` only scales it: one exp pass instead of two, and no log-softmax tensor. Everything stays channels-last
(the classes of a pixel contiguous), so neither interpolation copies a permuted tensor.

Values: the interpolation weights are computed as PyTorch's bilinear kernel computes them, the sums run in another
order, so loss and gradients equal the plain path's within float32 rounding (tests/models/losses).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Elements (B·rows·W·K) per chunk: 16 MiB of float32. Smaller chunks keep more in cache but start more parallel
# regions per step, which costs more than it saves on 2 busy cores (measured 2^21..2^23).
CHUNK_ELEMENTS = 1 << 22


def _vertical_weights(in_size: int, out_size: int, align_corners: bool, device: torch.device):
    """Per output row: the two source rows and their weights, as ATen's linear upsampling computes them (float32)."""
    dst = torch.arange(out_size, device=device, dtype=torch.float32)
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        src = torch.tensor(scale, dtype=torch.float32, device=device) * dst
    else:
        scale = torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)
        src = (scale.to(device) * (dst + 0.5) - 0.5).clamp(min=0)
    i0 = src.long().clamp(max=in_size - 1)
    i1 = (i0 + 1).clamp(max=in_size - 1)
    w1 = (src - i0.float()).clamp(0, 1)
    return i0, i1, 1 - w1, w1


class _UpsampleCrossEntropy(torch.autograd.Function):
    """(loss, acc) of ``logits`` (B, K, h, w) against ``target`` (B, H, W); see the module docstring."""

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, ignore_index: int, align_corners: bool,
                class_weight: Optional[Tensor], reduction: str, avg_non_ignore: bool, loss_weight: float):
        ctx.in_dtype = logits.dtype
        with torch.autocast(device_type=logits.device.type, enabled=False):
            # NHWC: the classes of a pixel are contiguous in the small map, the interpolated map and the gradient
            x = logits.detach().float().contiguous(memory_format=torch.channels_last)
            B, K, h, w = x.shape
            H, W = target.shape[-2:]
            need_grad = ctx.needs_input_grad[0]
            # horizontal pass once, on the small map (channels-last in, channels-last out: the permute is a view)
            xw = F.interpolate(x, size=(h, W), mode='bilinear', align_corners=align_corners)
            xw = xw.permute(0, 2, 3, 1).contiguous()  # (B, h, W, K)
            grad_xw = torch.zeros_like(xw) if need_grad else None
            i0, i1, w0, w1 = _vertical_weights(h, H, align_corners, x.device)
            valid = target != ignore_index
            num_valid = valid.sum()
            safe_target = target.masked_fill(~valid, 0)
            pix_weight = valid.float() if class_weight is None else class_weight.float()[safe_target] * valid
            # d loss / d nll of each pixel
            if reduction == 'sum':
                coef = pix_weight * loss_weight
            elif avg_non_ignore:
                coef = pix_weight * (loss_weight / num_valid.clamp(min=1).float())
            else:
                coef = pix_weight * (loss_weight / target.numel())
            pix_loss = torch.empty((B, H, W), dtype=torch.float32, device=x.device)
            correct = torch.zeros((), dtype=torch.int64, device=x.device)
            rows = max(1, CHUNK_ELEMENTS // max(1, B * W * K))
            for y0 in range(0, H, rows):
                y1 = min(H, y0 + rows)
                # the chunk's rows as a small dense (rows × window) interpolation matrix over the source rows
                # [lo, hi) it reads: one GEMM makes the upsampled logits, its transpose takes the gradient back
                lo, hi = int(i0[y0]), int(i1[y1 - 1]) + 1
                mix = torch.zeros((y1 - y0, hi - lo), dtype=torch.float32, device=x.device)
                ar = torch.arange(y1 - y0, device=x.device)
                mix.index_put_((ar, i0[y0:y1] - lo), w0[y0:y1], accumulate=True)
                mix.index_put_((ar, i1[y0:y1] - lo), w1[y0:y1], accumulate=True)
                z = torch.matmul(mix, xw[:, lo:hi].reshape(B, hi - lo, W * K)).view(B, y1 - y0, W, K)
                t = safe_target[:, y0:y1].unsqueeze(-1)
                # acc_seg as mmseg.models.losses.accuracy: the target's logit is the largest one
                z_t = z.gather(-1, t).squeeze(-1)
                z_max = z.amax(-1)
                correct += ((z_t == z_max) & valid[:, y0:y1]).sum()
                # nll = log Σ exp(z - max) + max - z_t; z becomes exp(z - max) in place (no log-softmax tensor)
                e = z.sub_(z_max.unsqueeze(-1)).exp_()
                e_sum = e.sum(-1)
                pix_loss[:, y0:y1] = (e_sum.log() + z_max - z_t).mul_(pix_weight[:, y0:y1])
                if need_grad:  # d loss / d z = (softmax - onehot) * coef, then back through the vertical pass
                    c = coef[:, y0:y1].unsqueeze(-1)
                    g = e.mul_(c / e_sum.unsqueeze(-1))
                    g.scatter_add_(-1, t, -c)
                    mix_t = mix.t()
                    for b in range(B):
                        grad_xw[b, lo:hi].view(hi - lo, W * K).addmm_(mix_t, g[b].view(y1 - y0, W * K))
                del z, e
            if reduction == 'sum':
                loss = loss_weight * pix_loss.sum()
            elif avg_non_ignore:
                loss = loss_weight * pix_loss.sum() / num_valid.clamp(min=1)
            else:
                loss = loss_weight * pix_loss.mean()
            acc = (correct.float() * 100.0 / num_valid.clamp(min=1)).reshape(1)
            if need_grad:
                grad_xw = grad_xw.permute(0, 3, 1, 2)  # a channels-last view of (B, K, h, W)
                grad = torch.ops.aten.upsample_bilinear2d_backward(grad_xw, [h, W], [B, K, h, w], align_corners,
                                                                   None, None)
                ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(acc)
        return loss, acc

    @staticmethod
    def backward(ctx, grad_loss: Tensor, grad_acc: Tensor):
        (grad,) = ctx.saved_tensors
        return (grad * grad_loss).to(ctx.in_dtype), None, None, None, None, None, None, None


def upsample_cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = 255, align_corners: bool = False,
                           class_weight: Optional[Tensor] = None, reduction: str = 'mean',
                           avg_non_ignore: bool = False, loss_weight: float = 1.0) -> Tuple[Tensor, Tensor]:
    """``loss_weight · CE(resize(logits, target size), target)`` and ``acc_seg`` without full-size tensors.

    logits (B, K, h, w), target (B, H, W) int64. ``reduction`` 'mean' divides by all pixels (MMSegmentation 0.24.1,
    ``avg_non_ignore=False``) or by the non-ignored ones (``avg_non_ignore=True``); 'sum' does not divide. The
    same value as ``CrossEntropyLoss`` on the resized logits, and ``accuracy`` on them (in percent, shape (1,)).
    """
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"upsample_cross_entropy: reduction '{reduction}' is not 'mean' or 'sum'")
    if logits.dim() != 4 or target.dim() != 3 or logits.shape[0] != target.shape[0]:
        raise ValueError(f'upsample_cross_entropy: logits {tuple(logits.shape)} must be (B, K, h, w) and target '
                         f'{tuple(target.shape)} (B, H, W)')
    return _UpsampleCrossEntropy.apply(logits, target, int(ignore_index), bool(align_corners), class_weight,
                                       reduction, bool(avg_non_ignore), float(loss_weight))
