"""Geometric transforms of mmseg 0.24.1: RandomRotate, SegRescale, RandomCutOut, RandomMosaic.

The random draws come from numpy's global RNG in the same order and number as 0.24.1, so a seeded pipeline gives
the same pixels:
* RandomRotate: ``rand()`` (apply?) then ``uniform(min, max)`` (angle), both drawn on every call;
* RandomCutOut: ``rand()``; if applied, ``randint(n_min, n_max + 1)`` holes, then per hole ``randint(0, w)``,
  ``randint(0, h)``, ``randint(0, len(candidates))``;
* RandomMosaic: ``get_indexes`` draws ``randint(0, len(dataset))`` three times; the call draws ``rand()`` and, if
  applied, ``uniform`` for the centre x then y.
"""
import numbers
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmseg.registry import TRANSFORMS
from .transforms import imresize, rescale_size

_CV2_INTERP = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR}


def imrotate(img: np.ndarray, angle: float, center: Optional[Tuple[float, float]] = None, border_value=0,
             interpolation: str = 'bilinear', auto_bound: bool = False) -> np.ndarray:
    """Rotate clockwise by ``angle`` degrees about ``center`` (default: the pixel centre ((w-1)/2, (h-1)/2)).

    ``auto_bound`` enlarges the output to hold the whole rotated image (rounded size). The border is constant
    ``border_value`` passed to cv2 as is (a scalar fills only the first channel of a colour image, as with mmcv).
    """
    if center is not None and auto_bound:
        raise ValueError('imrotate: auto_bound conflicts with center')
    h, w = img.shape[:2]
    if center is None:
        center = ((w - 1) * 0.5, (h - 1) * 0.5)
    matrix = cv2.getRotationMatrix2D(tuple(center), -angle, 1.0)
    if auto_bound:
        cos, sin = np.abs(matrix[0, 0]), np.abs(matrix[0, 1])
        new_w, new_h = h * sin + w * cos, h * cos + w * sin
        matrix[0, 2] += (new_w - w) * 0.5
        matrix[1, 2] += (new_h - h) * 0.5
        w, h = int(np.round(new_w)), int(np.round(new_h))
    return cv2.warpAffine(img, matrix, (w, h), flags=_CV2_INTERP[interpolation], borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border_value)


def _check_prob(name: str, prob) -> None:
    if not isinstance(prob, numbers.Real) or isinstance(prob, bool) or not 0 <= prob <= 1:
        raise ValueError(f'{name}: prob must be a number in [0, 1], got {prob!r}')


@TRANSFORMS.register_module()
class RandomRotate:
    """Rotate image (bilinear, ``pad_val`` border) and seg maps (nearest, ``seg_pad_val``) with probability
    ``prob`` by an angle drawn from ``degree`` = (min, max), or (-degree, degree) for a number."""

    def __init__(self, prob: float, degree, pad_val=0, seg_pad_val=255, center=None, auto_bound: bool = False):
        _check_prob('RandomRotate', prob)
        if isinstance(degree, numbers.Real) and not isinstance(degree, bool):
            if degree <= 0:
                raise ValueError(f'RandomRotate: degree {degree} should be positive (or a (min, max) pair)')
            degree = (-degree, degree)
        if not isinstance(degree, (tuple, list)) or len(degree) != 2:
            raise ValueError(f'RandomRotate: degree {degree!r} should be a number or a tuple of (min, max)')
        if center is not None and (not isinstance(center, (tuple, list)) or len(center) != 2):
            raise ValueError(f'RandomRotate: center must be None or (x, y), got {center!r}')
        if center is not None and auto_bound:
            raise ValueError('RandomRotate: auto_bound=True conflicts with center (the bound recentres the image)')
        self.prob = prob
        self.degree = tuple(degree)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.center = tuple(center) if center is not None else None
        self.auto_bound = auto_bound

    def __call__(self, results: dict) -> dict:
        rotate = np.random.rand() < self.prob
        degree = np.random.uniform(min(*self.degree), max(*self.degree))
        if rotate:
            results['img'] = imrotate(results['img'], degree, self.center, self.pad_val, 'bilinear', self.auto_bound)
            results['img_shape'] = results['img'].shape
            for key in results.get('seg_fields', []):
                results[key] = imrotate(results[key], degree, self.center, self.seg_pad_val, 'nearest',
                                        self.auto_bound)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, degree={self.degree}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val}, center={self.center}, auto_bound={self.auto_bound})')


@TRANSFORMS.register_module()
class SegRescale:
    """Rescale every seg map by ``scale_factor`` (nearest; new size ``int(w * s + 0.5)``); 1 leaves them as is."""

    def __init__(self, scale_factor=1):
        valid = isinstance(scale_factor, numbers.Real) and not isinstance(scale_factor, bool) and scale_factor > 0
        valid = valid or (isinstance(scale_factor, (tuple, list)) and len(scale_factor) == 2
                          and all(isinstance(s, numbers.Real) and s > 0 for s in scale_factor))
        if not valid:
            raise ValueError(f'SegRescale: scale_factor must be a positive number or a (w, h) scale, '
                             f'got {scale_factor!r}')
        self.scale_factor = tuple(scale_factor) if isinstance(scale_factor, list) else scale_factor

    def __call__(self, results: dict) -> dict:
        if self.scale_factor != 1:
            for key in results.get('seg_fields', []):
                h, w = results[key].shape[:2]
                results[key] = imresize(results[key], rescale_size(w, h, self.scale_factor)[0], 'nearest')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale_factor={self.scale_factor})'


def _pair_list(name: str, value) -> List[tuple]:
    """A (w, h) pair or a list of them → list of pairs."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, numbers.Real) for v in value):
        return [tuple(value)]
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, numbers.Real) for x in v)
            for v in value):
        return [tuple(v) for v in value]
    raise ValueError(f'RandomCutOut: {name} must be a (w, h) pair or a list of them, got {value!r}')


@TRANSFORMS.register_module()
class RandomCutOut:
    """With probability ``prob`` fill ``n_holes`` boxes (top-left uniform over the image, size a (w, h) from
    ``cutout_shape`` or a (w, h) fraction from ``cutout_ratio``, clipped at the border) with ``fill_in``, and the
    seg maps with ``seg_fill_in`` when it is given. ``n_holes`` is a count or an inclusive (min, max)."""

    def __init__(self, prob: float, n_holes, cutout_shape=None, cutout_ratio=None, fill_in=(0, 0, 0),
                 seg_fill_in: Optional[int] = None):
        _check_prob('RandomCutOut', prob)
        if (cutout_shape is None) == (cutout_ratio is None):
            raise ValueError('RandomCutOut: give exactly one of cutout_shape and cutout_ratio')
        if isinstance(n_holes, (tuple, list)):
            if len(n_holes) != 2 or not all(isinstance(n, int) for n in n_holes) or \
                    not 0 <= n_holes[0] <= n_holes[1]:
                raise ValueError(f'RandomCutOut: n_holes must be an int or (min, max) with 0 <= min <= max, '
                                 f'got {n_holes!r}')
            n_holes = tuple(n_holes)
        elif isinstance(n_holes, int) and n_holes >= 0:
            n_holes = (n_holes, n_holes)
        else:
            raise ValueError(f'RandomCutOut: n_holes must be a non-negative int or (min, max), got {n_holes!r}')
        if seg_fill_in is not None and (not isinstance(seg_fill_in, int) or not 0 <= seg_fill_in <= 255):
            raise ValueError(f'RandomCutOut: seg_fill_in must be None or an int in [0, 255], got {seg_fill_in!r}')
        self.prob = prob
        self.n_holes = n_holes
        self.fill_in = fill_in
        self.seg_fill_in = seg_fill_in
        self.with_ratio = cutout_ratio is not None
        self.candidates = _pair_list('cutout_ratio' if self.with_ratio else 'cutout_shape',
                                     cutout_ratio if self.with_ratio else cutout_shape)

    def __call__(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            h, w = results['img'].shape[:2]
            n_holes = np.random.randint(self.n_holes[0], self.n_holes[1] + 1)
            for _ in range(n_holes):
                x1 = np.random.randint(0, w)
                y1 = np.random.randint(0, h)
                index = np.random.randint(0, len(self.candidates))
                if self.with_ratio:
                    cut_w, cut_h = int(self.candidates[index][0] * w), int(self.candidates[index][1] * h)
                else:
                    cut_w, cut_h = self.candidates[index]
                x2, y2 = np.clip(x1 + cut_w, 0, w), np.clip(y1 + cut_h, 0, h)
                results['img'][y1:y2, x1:x2, :] = self.fill_in
                if self.seg_fill_in is not None:
                    for key in results.get('seg_fields', []):
                        results[key][y1:y2, x1:x2] = self.seg_fill_in
        return results

    def __repr__(self) -> str:
        kind = 'cutout_ratio' if self.with_ratio else 'cutout_shape'
        return (f'{self.__class__.__name__}(prob={self.prob}, n_holes={self.n_holes}, {kind}={self.candidates}, '
                f'fill_in={self.fill_in}, seg_fill_in={self.seg_fill_in})')


@TRANSFORMS.register_module()
class RandomMosaic:
    """Mosaic of 4 samples (this one top-left, ``results['mix_results']`` the others) on a canvas of twice
    ``img_scale = (h, w)``; needs :class:`MultiImageMixDataset`, which calls :meth:`get_indexes`.

    Each sample is resized (bilinear; seg nearest) by min(h/h_i, w/w_i) to ``(int(w_i·s), int(h_i·s))`` and
    pasted so that its corner touches the centre ``(int(U(ratio)·w), int(U(ratio)·h))``; what falls outside the
    canvas is cropped. Uncovered pixels are ``pad_val`` / ``seg_pad_val``.
    """

    def __init__(self, prob: float, img_scale: Tuple[int, int] = (640, 640),
                 center_ratio_range: Tuple[float, float] = (0.5, 1.5), pad_val=0, seg_pad_val=255):
        _check_prob('RandomMosaic', prob)
        if not isinstance(img_scale, (tuple, list)) or len(img_scale) != 2 or \
                not all(isinstance(s, int) and s > 0 for s in img_scale):
            raise ValueError(f'RandomMosaic: img_scale must be (h, w) positive ints, got {img_scale!r}')
        if not isinstance(center_ratio_range, (tuple, list)) or len(center_ratio_range) != 2 or \
                not 0 < center_ratio_range[0] <= center_ratio_range[1] < 2:
            raise ValueError(f'RandomMosaic: center_ratio_range must be (min, max) with 0 < min <= max < 2, '
                             f'got {center_ratio_range!r}')
        self.prob = prob
        self.img_scale = tuple(img_scale)
        self.center_ratio_range = tuple(center_ratio_range)
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def get_indexes(self, dataset) -> List[int]:
        """Three random sample indices of ``dataset`` for the other corners."""
        return [np.random.randint(0, len(dataset)) for _ in range(3)]

    def __call__(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            if 'mix_results' not in results or len(results['mix_results']) < 3:
                raise KeyError('RandomMosaic needs 3 samples in results["mix_results"]: wrap the dataset in '
                               'MultiImageMixDataset and put RandomMosaic in its pipeline')
            center_x = int(np.random.uniform(*self.center_ratio_range) * self.img_scale[1])
            center_y = int(np.random.uniform(*self.center_ratio_range) * self.img_scale[0])
            patches = [results] + list(results['mix_results'][:3])
            img = results['img']
            canvas_shape = (self.img_scale[0] * 2, self.img_scale[1] * 2) + img.shape[2:]
            results['img'] = self._paste([p['img'] for p in patches], canvas_shape, self.pad_val, img.dtype,
                                         (center_x, center_y), 'bilinear')
            results['img_shape'] = results['img'].shape
            results['ori_shape'] = results['img'].shape
            for key in results.get('seg_fields', []):
                results[key] = self._paste([p[key] for p in patches], canvas_shape[:2], self.seg_pad_val,
                                           results[key].dtype, (center_x, center_y), 'nearest')
        return results

    def _paste(self, arrays: Sequence[np.ndarray], shape, pad, dtype, center, interpolation) -> np.ndarray:
        canvas = np.full(shape, pad, dtype=dtype)
        for loc, arr in zip(('top_left', 'top_right', 'bottom_left', 'bottom_right'), arrays):
            h_i, w_i = arr.shape[:2]
            ratio = min(self.img_scale[0] / h_i, self.img_scale[1] / w_i)
            arr = imresize(arr, (int(w_i * ratio), int(h_i * ratio)), interpolation)
            (x1_p, y1_p, x2_p, y2_p), (x1_c, y1_c, x2_c, y2_c) = self._combine(loc, center, arr.shape[1::-1])
            canvas[y1_p:y2_p, x1_p:x2_p] = arr[y1_c:y2_c, x1_c:x2_c]
        return canvas

    def _combine(self, loc: str, center_xy, size_wh):
        """Paste box on the canvas and crop box in the resized sample, both (x1, y1, x2, y2)."""
        (cx, cy), (w, h) = center_xy, size_wh
        max_x, max_y = self.img_scale[1] * 2, self.img_scale[0] * 2
        if loc == 'top_left':
            x1, y1, x2, y2 = max(cx - w, 0), max(cy - h, 0), cx, cy
            crop = (w - (x2 - x1), h - (y2 - y1), w, h)
        elif loc == 'top_right':
            x1, y1, x2, y2 = cx, max(cy - h, 0), min(cx + w, max_x), cy
            crop = (0, h - (y2 - y1), min(w, x2 - x1), h)
        elif loc == 'bottom_left':
            x1, y1, x2, y2 = max(cx - w, 0), cy, cx, min(max_y, cy + h)
            crop = (w - (x2 - x1), 0, w, min(y2 - y1, h))
        else:
            x1, y1, x2, y2 = cx, cy, min(cx + w, max_x), min(max_y, cy + h)
            crop = (0, 0, min(w, x2 - x1), min(y2 - y1, h))
        return (x1, y1, x2, y2), crop

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, img_scale={self.img_scale}, '
                f'center_ratio_range={self.center_ratio_range}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')


__all__ = ['imrotate', 'RandomRotate', 'SegRescale', 'RandomCutOut', 'RandomMosaic']
