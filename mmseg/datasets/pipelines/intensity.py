"""Pixel-value transforms of mmseg 0.24.1 (RGB2Gray, AdjustGamma, Rerange, CLAHE), none of them random.

Each reproduces the 0.24.1 result bit for bit, including the output dtype: RGB2Gray and Rerange give float64,
AdjustGamma uint8, CLAHE keeps the input dtype (it writes channel by channel into the input array).
"""
import numbers
from typing import Sequence, Tuple

import cv2
import numpy as np

from mmseg.registry import TRANSFORMS


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@TRANSFORMS.register_module()
class RGB2Gray:
    """Weighted channel sum repeated to ``out_channels`` (input channel count when None).

    The weights apply to the channels in storage order, so on a BGR image the default (0.299, 0.587, 0.114)
    weighs B by 0.299, as 0.24.1 does. The result is float64 and updates ``img_shape``.
    """

    def __init__(self, out_channels=None, weights: Sequence[float] = (0.299, 0.587, 0.114)):
        if out_channels is not None and (not isinstance(out_channels, int) or out_channels <= 0):
            raise ValueError(f'RGB2Gray: out_channels must be None or a positive int, got {out_channels!r}')
        if not isinstance(weights, (tuple, list)) or not weights or not all(_is_number(w) for w in weights):
            raise ValueError(f'RGB2Gray: weights must be a tuple of numbers, got {weights!r}')
        self.out_channels = out_channels
        self.weights = tuple(weights)

    def __call__(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != len(self.weights):
            raise ValueError(f'RGB2Gray: image {results.get("filename")} has shape {img.shape}, expected H×W×'
                             f'{len(self.weights)} to match weights {self.weights}')
        weights = np.array(self.weights).reshape((1, 1, -1))
        gray = (img * weights).sum(2, keepdims=True)
        gray = gray.repeat(weights.shape[2] if self.out_channels is None else self.out_channels, axis=2)
        results['img'] = gray
        results['img_shape'] = gray.shape
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(out_channels={self.out_channels}, weights={self.weights})'


@TRANSFORMS.register_module()
class AdjustGamma:
    """Gamma correction through a 256-entry table ``uint8((i/255) ** (1/gamma) * 255)`` (truncated), cv2.LUT."""

    def __init__(self, gamma: float = 1.0):
        if not _is_number(gamma) or gamma <= 0:
            raise ValueError(f'AdjustGamma: gamma must be a positive number, got {gamma!r}')
        self.gamma = gamma
        inv_gamma = 1.0 / gamma
        # Scalar pow per entry (not numpy's vectorised pow) so every entry is the same double as in 0.24.1.
        self.table = np.array([(i / 255.0) ** inv_gamma * 255 for i in range(256)]).astype('uint8')

    def __call__(self, results: dict) -> dict:
        results['img'] = cv2.LUT(np.array(results['img'], dtype=np.uint8), self.table)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(gamma={self.gamma})'


@TRANSFORMS.register_module()
class Rerange:
    """Map the image's [min, max] linearly onto [min_value, max_value] (float64 result)."""

    def __init__(self, min_value: float = 0, max_value: float = 255):
        for name, value in (('min_value', min_value), ('max_value', max_value)):
            if not _is_number(value):
                raise ValueError(f'Rerange: {name} must be a number, got {value!r}')
        if not min_value < max_value:
            raise ValueError(f'Rerange: min_value ({min_value}) must be smaller than max_value ({max_value})')
        self.min_value = min_value
        self.max_value = max_value

    def __call__(self, results: dict) -> dict:
        img = results['img']
        img_min, img_max = np.min(img), np.max(img)
        if not img_min < img_max:
            raise ValueError(f'Rerange: image {results.get("filename")} is constant ({img_min}); cannot rerange it')
        img = (img - img_min) / (img_max - img_min)
        results['img'] = img * (self.max_value - self.min_value) + self.min_value
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(min_value={self.min_value}, max_value={self.max_value})'


@TRANSFORMS.register_module()
class CLAHE:
    """Contrast-limited adaptive histogram equalisation (cv2) on each channel, written back in place."""

    def __init__(self, clip_limit: float = 40.0, tile_grid_size: Tuple[int, int] = (8, 8)):
        if not _is_number(clip_limit):
            raise ValueError(f'CLAHE: clip_limit must be a number, got {clip_limit!r}')
        if not isinstance(tile_grid_size, (tuple, list)) or len(tile_grid_size) != 2 or \
                not all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in tile_grid_size):
            raise ValueError(f'CLAHE: tile_grid_size must be a tuple of two positive ints, got {tile_grid_size!r}')
        self.clip_limit = clip_limit
        self.tile_grid_size = tuple(tile_grid_size)

    def __call__(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3:
            raise ValueError(f'CLAHE: image {results.get("filename")} must be H×W×C, got shape {img.shape}')
        clahe = cv2.createCLAHE(self.clip_limit, self.tile_grid_size)
        for i in range(img.shape[2]):
            img[:, :, i] = clahe.apply(np.array(img[:, :, i], dtype=np.uint8))
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(clip_limit={self.clip_limit}, tile_grid_size={self.tile_grid_size})'
