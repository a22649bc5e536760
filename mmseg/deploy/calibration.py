"""Realistic weights without a trained checkpoint, for correctness checks of the backends on real photos.

A freshly initialised network has BN statistics (mean 0, variance 1) that do not match its activations, so its
logits are either saturated or near ties everywhere — neither says much about whether two backends agree on a real
model. :func:`calibrate_bn` re-estimates every BN layer's statistics on the given images (cumulative average, as
``torch.nn.BatchNorm`` does with ``momentum=None``): activations then have the scale of a trained network's, and the
label maps follow image structure. :func:`sample_photos` are scikit-image's bundled photographs (no download).
"""
from typing import List, Sequence

import numpy as np
import torch
import torch.nn as nn

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field')


def sample_photos(names: Sequence[str] = PHOTOS) -> List[np.ndarray]:
    """BGR uint8 H×W×3 photographs from ``skimage.data`` (``pip install scikit-image``; bundled in the wheel)."""
    try:
        import skimage.data
    except ImportError as e:
        raise ImportError('sample photos need scikit-image: pip install -e .[tests]') from e
    out = []
    for name in names:
        img = getattr(skimage.data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        out.append(np.ascontiguousarray(img[..., :3][..., ::-1]).astype(np.uint8))
    return out


@torch.no_grad()
def calibrate_bn(model: nn.Module, images: Sequence[torch.Tensor]) -> nn.Module:
    """Reset and re-estimate every BatchNorm's running statistics on ``images`` (normalised (1, 3, H, W) tensors);
    everything else stays in eval mode (no dropout or drop-path). In place; returns ``model`` in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average over all calibration images
        bn.train()
    for img in images:
        model.forward_dummy(img)
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()
