"""Geometric and photometric transforms with mmseg 0.24.1 semantics (spec §5.4).

All randomness comes from numpy's global RNG, so seeding ``np.random`` (the trainer seeds each worker) makes a
pipeline reproducible. Images are H×W×C numpy arrays (BGR), label maps H×W uint8; sizes are written (w, h) as in
mmseg's ``img_scale``.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from mmseg.registry import TRANSFORMS

_INTERP = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR, 'bicubic': cv2.INTER_CUBIC,
           'area': cv2.INTER_AREA, 'lanczos': cv2.INTER_LANCZOS4}


def imresize(img: np.ndarray, size: Tuple[int, int], interpolation: str = 'bilinear') -> np.ndarray:
    """Resize to ``size = (w, h)`` with cv2."""
    if interpolation not in _INTERP:
        raise ValueError(f"interpolation must be one of {sorted(_INTERP)}, got '{interpolation}'")
    return cv2.resize(img, (int(size[0]), int(size[1])), interpolation=_INTERP[interpolation])


def rescale_size(w: int, h: int, scale: Union[float, Tuple[int, int]]) -> Tuple[Tuple[int, int], float]:
    """Keep-ratio target size: fit the long edge in max(scale) and the short edge in min(scale).

    Returns ``((new_w, new_h), factor)`` with ``new = int(old * factor + 0.5)``.
    """
    if isinstance(scale, (int, float)):
        factor = float(scale)
        if factor <= 0:
            raise ValueError(f'scale factor must be positive, got {scale}')
    else:
        factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return (int(w * factor + 0.5), int(h * factor + 0.5)), factor


def imflip(img: np.ndarray, direction: str = 'horizontal') -> np.ndarray:
    axes = {'horizontal': 1, 'vertical': 0, 'diagonal': (0, 1)}
    if direction not in axes:
        raise ValueError(f"flip direction must be one of {sorted(axes)}, got '{direction}'")
    return np.ascontiguousarray(np.flip(img, axis=axes[direction]))


def _as_scale_list(img_scale) -> Optional[List[Tuple[int, int]]]:
    """``(w, h)``, ``[w, h]`` or a list of ``(w, h)`` → list of tuples (None stays None)."""
    if img_scale is None:
        return None
    if isinstance(img_scale, (tuple, list)) and len(img_scale) == 2 and \
            all(isinstance(v, (int, float)) for v in img_scale):
        return [tuple(img_scale)]
    if isinstance(img_scale, (list, tuple)):
        scales = [tuple(s) for s in img_scale]
        if scales and all(len(s) == 2 for s in scales):
            return scales
    raise ValueError(f'img_scale must be a (w, h) tuple or a list of them, got {img_scale!r}')


@TRANSFORMS.register_module()
class Resize:
    """Resize the image (bilinear) and every map in ``seg_fields`` (nearest).

    The scale is ``results['scale']`` when set (MultiScaleFlipAug), else drawn:
    * ``ratio_range``: r = U[min, max) via ``np.random.random_sample``; scale = (int(W·r), int(H·r)) of ``img_scale``
      (of the image's own (w, h) when ``img_scale`` is None);
    * one ``img_scale``: that scale;
    * several, ``multiscale_mode='range'``: long/short edges drawn by ``np.random.randint`` in the covered range;
      ``'value'``: one picked by ``np.random.randint``.
    With ``keep_ratio`` the image is rescaled by min(max(scale)/long, min(scale)/short); else resized to scale.
    """

    def __init__(self, img_scale=None, multiscale_mode: str = 'range', ratio_range: Optional[Sequence[float]] = None,
                 keep_ratio: bool = True):
        self.img_scale = _as_scale_list(img_scale)
        if multiscale_mode not in ('range', 'value'):
            raise ValueError(f"multiscale_mode must be 'range' or 'value', got '{multiscale_mode}'")
        if ratio_range is not None:
            if len(ratio_range) != 2 or ratio_range[0] > ratio_range[1]:
                raise ValueError(f'ratio_range must be (min, max) with min <= max, got {ratio_range!r}')
            if self.img_scale is not None and len(self.img_scale) != 1:
                raise ValueError('Resize with ratio_range needs exactly one img_scale')
        self.multiscale_mode = multiscale_mode
        self.ratio_range = tuple(ratio_range) if ratio_range is not None else None
        self.keep_ratio = keep_ratio

    def _random_scale(self, results: dict) -> None:
        if self.ratio_range is not None:
            if self.img_scale is None:
                h, w = results['img'].shape[:2]
                base = (w, h)
            else:
                base = self.img_scale[0]
            lo, hi = self.ratio_range
            ratio = np.random.random_sample() * (hi - lo) + lo
            scale, idx = (int(base[0] * ratio), int(base[1] * ratio)), None
        elif self.img_scale is None:
            # Test pipelines (MultiScaleFlipAug with img_ratios and no img_scale) set results['scale']; reaching
            # here means neither a scale nor a ratio was given.
            raise ValueError('Resize needs img_scale or ratio_range unless results["scale"] is set')
        elif len(self.img_scale) == 1:
            scale, idx = self.img_scale[0], 0
        elif self.multiscale_mode == 'range':
            longs = [max(s) for s in self.img_scale]
            shorts = [min(s) for s in self.img_scale]
            long_edge = np.random.randint(min(longs), max(longs) + 1)
            short_edge = np.random.randint(min(shorts), max(shorts) + 1)
            scale, idx = (long_edge, short_edge), None
        else:
            idx = np.random.randint(len(self.img_scale))
            scale = self.img_scale[idx]
        results['scale'] = scale
        results['scale_idx'] = idx

    def _resize_img(self, results: dict) -> None:
        img = results['img']
        h, w = img.shape[:2]
        if self.keep_ratio:
            size, _ = rescale_size(w, h, results['scale'])
        else:
            size = tuple(int(v) for v in results['scale'])
        out = imresize(img, size, 'bilinear')
        new_h, new_w = out.shape[:2]
        w_scale, h_scale = new_w / w, new_h / h
        results['img'] = out
        results['img_shape'] = out.shape
        results['pad_shape'] = out.shape
        results['scale_factor'] = np.array([w_scale, h_scale, w_scale, h_scale], dtype=np.float32)
        results['keep_ratio'] = self.keep_ratio

    def _resize_seg(self, results: dict) -> None:
        for key in results.get('seg_fields', []):
            seg = results[key]
            h, w = seg.shape[:2]
            size = rescale_size(w, h, results['scale'])[0] if self.keep_ratio else results['scale']
            results[key] = imresize(seg, size, 'nearest')

    def __call__(self, results: dict) -> dict:
        if 'scale' not in results:
            self._random_scale(results)
        self._resize_img(results)
        self._resize_seg(results)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, multiscale_mode={self.multiscale_mode}, '
                f'ratio_range={self.ratio_range}, keep_ratio={self.keep_ratio})')


@TRANSFORMS.register_module()
class RandomCrop:
    """Crop ``crop_size = (h, w)``; retry up to 10 times while one class covers ≥ ``cat_max_ratio`` of the crop.

    Offsets are ``np.random.randint(0, margin + 1)`` for h then w. A box is accepted when its label crop has more
    than one non-ignored class and the largest covers < cat_max_ratio of the non-ignored pixels; after 10 rejected
    boxes the 11th is used unchecked. Images smaller than the crop give a smaller crop (Pad fills it later).
    """

    def __init__(self, crop_size: Tuple[int, int], cat_max_ratio: float = 1., ignore_index: int = 255):
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'crop_size must be (h, w) with positive values, got {crop_size!r}')
        self.crop_size = tuple(crop_size)
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def get_crop_bbox(self, img: np.ndarray) -> Tuple[int, int, int, int]:
        """Return ``(y1, y2, x1, x2)``."""
        margin_h = max(img.shape[0] - self.crop_size[0], 0)
        margin_w = max(img.shape[1] - self.crop_size[1], 0)
        off_h = np.random.randint(0, margin_h + 1)
        off_w = np.random.randint(0, margin_w + 1)
        return off_h, off_h + self.crop_size[0], off_w, off_w + self.crop_size[1]

    @staticmethod
    def crop(img: np.ndarray, bbox: Tuple[int, int, int, int]) -> np.ndarray:
        y1, y2, x1, x2 = bbox
        return img[y1:y2, x1:x2, ...]

    def _acceptable(self, seg: np.ndarray) -> bool:
        labels, counts = np.unique(seg, return_counts=True)
        counts = counts[labels != self.ignore_index]
        return len(counts) > 1 and np.max(counts) / np.sum(counts) < self.cat_max_ratio

    def __call__(self, results: dict) -> dict:
        img = results['img']
        bbox = self.get_crop_bbox(img)
        if self.cat_max_ratio < 1. and 'gt_semantic_seg' in results:
            for _ in range(10):
                if self._acceptable(self.crop(results['gt_semantic_seg'], bbox)):
                    break
                bbox = self.get_crop_bbox(img)
        img = self.crop(img, bbox)
        results['img'] = img
        results['img_shape'] = img.shape
        for key in results.get('seg_fields', []):
            results[key] = self.crop(results[key], bbox)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={self.crop_size}, cat_max_ratio={self.cat_max_ratio})'


@TRANSFORMS.register_module()
class RandomFlip:
    """Flip image and seg maps with probability ``prob`` (``np.random.rand() < prob``) unless ``flip`` is preset."""

    def __init__(self, prob: Optional[float] = None, direction: str = 'horizontal'):
        if prob is not None and not 0 <= prob <= 1:
            raise ValueError(f'flip prob must be in [0, 1], got {prob}')
        if direction not in ('horizontal', 'vertical', 'diagonal'):
            raise ValueError(f"flip direction must be 'horizontal', 'vertical' or 'diagonal', got '{direction}'")
        self.prob = prob
        self.direction = direction

    def __call__(self, results: dict) -> dict:
        if 'flip' not in results:
            # prob=None (test pipelines) never flips on its own; MultiScaleFlipAug presets 'flip'.
            results['flip'] = self.prob is not None and bool(np.random.rand() < self.prob)
        if 'flip_direction' not in results:
            results['flip_direction'] = self.direction
        if results['flip']:
            results['img'] = imflip(results['img'], results['flip_direction'])
            for key in results.get('seg_fields', []):
                results[key] = imflip(results[key], results['flip_direction'])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, direction={self.direction!r})'


@TRANSFORMS.register_module()
class PhotoMetricDistortion:
    """Random brightness, contrast, saturation and hue on a BGR uint8 image (each with ``np.random.randint(2)``).

    Order: brightness, mode coin, (contrast if mode 1), saturation, hue, (contrast if mode 0). Saturation and hue
    go through cv2 BGR↔HSV on uint8 (H in [0, 180)); the hue shift is ``np.random.randint(-hue_delta, hue_delta)``.
    """

    def __init__(self, brightness_delta: int = 32, contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5), hue_delta: int = 18):
        self.brightness_delta = brightness_delta
        self.contrast_lower, self.contrast_upper = contrast_range
        self.saturation_lower, self.saturation_upper = saturation_range
        self.hue_delta = hue_delta

    @staticmethod
    def convert(img: np.ndarray, alpha: float = 1, beta: float = 0) -> np.ndarray:
        """``clip(img * alpha + beta, 0, 255)`` computed in float32, cast (truncated) to uint8."""
        out = img.astype(np.float32) * alpha + beta
        return np.clip(out, 0, 255).astype(np.uint8)

    def brightness(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return self.convert(img, beta=np.random.uniform(-self.brightness_delta, self.brightness_delta))
        return img

    def contrast(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            return self.convert(img, alpha=np.random.uniform(self.contrast_lower, self.contrast_upper))
        return img

    def saturation(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
            hsv[:, :, 1] = self.convert(hsv[:, :, 1],
                                        alpha=np.random.uniform(self.saturation_lower, self.saturation_upper))
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return img

    def hue(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
            hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + np.random.randint(-self.hue_delta, self.hue_delta)) % 180
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return img

    def __call__(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8:
            raise TypeError(f'PhotoMetricDistortion needs a uint8 BGR image (put it before Normalize), got {img.dtype}')
        img = self.brightness(img)
        mode = np.random.randint(2)
        if mode == 1:
            img = self.contrast(img)
        img = self.saturation(img)
        img = self.hue(img)
        if mode == 0:
            img = self.contrast(img)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness_delta={self.brightness_delta}, '
                f'contrast_range=({self.contrast_lower}, {self.contrast_upper}), '
                f'saturation_range=({self.saturation_lower}, {self.saturation_upper}), hue_delta={self.hue_delta})')


@TRANSFORMS.register_module()
class Normalize:
    """``(img[..., ::-1 if to_rgb] - mean) / std`` in float32; records ``img_norm_cfg``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True):
        self.mean = np.array(mean, dtype=np.float32)
        self.std = np.array(std, dtype=np.float32)
        if np.any(self.std == 0):
            raise ValueError(f'Normalize std must be non-zero, got {list(std)}')
        self.to_rgb = to_rgb

    def __call__(self, results: dict) -> dict:
        img = results['img'].astype(np.float32)
        if self.to_rgb:
            img = img[..., ::-1]
        # Subtract, round to float32, then scale by 1/std: the same two roundings as mmcv's in-place cv2 ops.
        img = (img - self.mean.astype(np.float64)).astype(np.float32)
        img = (img * (1.0 / self.std.astype(np.float64))).astype(np.float32)
        results['img'] = np.ascontiguousarray(img)
        results['img_norm_cfg'] = dict(mean=self.mean.copy(), std=self.std.copy(), to_rgb=self.to_rgb)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(mean={self.mean.tolist()}, std={self.std.tolist()}, to_rgb={self.to_rgb})'


def impad(img: np.ndarray, shape: Tuple[int, int], pad_val: float) -> np.ndarray:
    """Pad bottom/right to ``shape = (h, w)`` with a constant."""
    h, w = img.shape[:2]
    if h > shape[0] or w > shape[1]:
        raise ValueError(f'cannot pad an image of size {(h, w)} to the smaller size {tuple(shape[:2])}')
    out = np.full((shape[0], shape[1]) + img.shape[2:], pad_val, dtype=img.dtype)
    out[:h, :w, ...] = img
    return out


@TRANSFORMS.register_module()
class Pad:
    """Pad the image bottom/right to ``size = (h, w)`` or to a multiple of ``size_divisor``; seg maps likewise."""

    def __init__(self, size: Optional[Tuple[int, int]] = None, size_divisor: Optional[int] = None,
                 pad_val: float = 0, seg_pad_val: int = 255):
        if (size is None) == (size_divisor is None):
            raise ValueError('Pad needs exactly one of size and size_divisor')
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def __call__(self, results: dict) -> dict:
        img = results['img']
        if self.size is not None:
            shape = self.size
        else:
            d = self.size_divisor
            shape = (int(math.ceil(img.shape[0] / d)) * d, int(math.ceil(img.shape[1] / d)) * d)
        padded = impad(img, shape, self.pad_val)
        results['img'] = padded
        results['pad_shape'] = padded.shape
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        for key in results.get('seg_fields', []):
            results[key] = impad(results[key], padded.shape[:2], self.seg_pad_val)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, size_divisor={self.size_divisor}, '
                f'pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})')


@TRANSFORMS.register_module()
class ResizeToMultiple:
    """Resize (not pad) the image to ceil(h/d)·d × ceil(w/d)·d; seg maps with nearest. ``scale_factor`` is kept."""

    def __init__(self, size_divisor: int = 32, interpolation: Optional[str] = None):
        if size_divisor <= 0:
            raise ValueError(f'size_divisor must be positive, got {size_divisor}')
        self.size_divisor = size_divisor
        self.interpolation = interpolation

    def _target(self, arr: np.ndarray) -> Tuple[int, int]:
        h, w = arr.shape[:2]
        d = self.size_divisor
        return int(math.ceil(w / d)) * d, int(math.ceil(h / d)) * d

    def __call__(self, results: dict) -> dict:
        img = results['img']
        img = imresize(img, self._target(img), self.interpolation or 'bilinear')
        results['img'] = img
        results['img_shape'] = img.shape
        results['pad_shape'] = img.shape
        for key in results.get('seg_fields', []):
            results[key] = imresize(results[key], self._target(results[key]), 'nearest')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size_divisor={self.size_divisor}, interpolation={self.interpolation})'
