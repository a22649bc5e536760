"""Pixel accuracy logged as ``acc_seg`` during training."""
import torch
from torch import Tensor


@torch.no_grad()
def accuracy(logits: Tensor, target: Tensor, ignore_index: int = 255) -> Tensor:
    """Top-1 accuracy in percent over pixels whose target is not ``ignore_index``.

    logits (B, K, H, W), target (B, H, W). Returns a 1-element tensor (0 when no pixel is valid).
    A pixel is correct when its target's logit equals the largest logit. On CPU an argmax over the channels of a
    full-resolution NCHW map is ~10x slower than the max reduction (200 vs 16 ms for 2x150x512x512, about 8% of a
    SegNeXt-T training step); the two differ only where two classes tie exactly for the maximum.
    """
    valid = target != ignore_index
    target_logit = logits.gather(1, target.masked_fill(~valid, 0).unsqueeze(1)).squeeze(1)
    correct = (target_logit == logits.amax(dim=1)) & valid
    return (correct.sum().float() * 100.0 / valid.sum().clamp(min=1)).reshape(1)
