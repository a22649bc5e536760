"""One vocabulary for "do two label maps agree": the fraction of equal labels, and the named thresholds.

- :data:`FP32_MIN_AGREEMENT` (99.9 %): an fp32 runtime (onnxruntime, OpenVINO, compiled PyTorch) against fp32
  PyTorch; they differ only where two classes tie to float rounding. ``tools/export_onnx.py`` checks its graphs
  against it and ``backend='auto'`` keeps only runtimes that reach it.
- :data:`BF16_MIN_AGREEMENT` (99.5 %): bf16 keeps 8 bits of mantissa, so labels move where classes nearly tie.
- INT8 is not gated on agreement but on the mIoU drop (``tools/quantize.py --max-drop``); agreement is printed.
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch

FP32_MIN_AGREEMENT = 0.999
EXPORT_MIN_AGREEMENT = FP32_MIN_AGREEMENT
BF16_MIN_AGREEMENT = 0.995

Labels = Union[np.ndarray, torch.Tensor]


def _np(x: Labels) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def label_difference(a: Union[Labels, Sequence[Labels]], b: Union[Labels, Sequence[Labels]]) -> Tuple[int, int]:
    """(differing pixels, total pixels) of two label maps or two equally long lists of them."""
    pairs = list(zip(a, b)) if isinstance(a, (list, tuple)) else [(a, b)]
    if isinstance(a, (list, tuple)) and len(a) != len(b):
        raise ValueError(f'label_agreement: {len(a)} label maps against {len(b)}')
    diff = total = 0
    for x, y in pairs:
        x, y = _np(x), _np(y)
        if x.shape != y.shape:
            raise ValueError(f'label_agreement: label maps of shapes {x.shape} and {y.shape}')
        diff += int((x != y).sum())
        total += x.size
    return diff, total


def label_agreement(a: Union[Labels, Sequence[Labels]], b: Union[Labels, Sequence[Labels]]) -> float:
    """Fraction of pixels with equal labels (1.0 for empty maps)."""
    diff, total = label_difference(a, b)
    return 1.0 - diff / max(total, 1)


def min_agreement(precision: str) -> float:
    """The agreement a runtime of ``precision`` must reach against fp32 PyTorch."""
    return BF16_MIN_AGREEMENT if precision == 'bf16' else FP32_MIN_AGREEMENT
