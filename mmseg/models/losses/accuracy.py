"""Pixel accuracy logged as ``acc_seg`` during training."""
from torch import Tensor


def accuracy(logits: Tensor, target: Tensor, ignore_index: int = 255) -> Tensor:
    """Top-1 accuracy in percent over pixels whose target is not ``ignore_index``.

    logits (B, K, H, W), target (B, H, W). Returns a 1-element tensor (0 when no pixel is valid).
    """
    pred = logits.argmax(dim=1)
    valid = target != ignore_index
    correct = (pred == target) & valid
    return (correct.sum().float() * 100.0 / valid.sum().clamp(min=1)).reshape(1)
