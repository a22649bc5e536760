"""Turn numpy results into tensors and pick the keys a model sees."""
from typing import Sequence

import numpy as np
import torch

from mmseg.registry import TRANSFORMS


def to_tensor(data) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(data))
    if isinstance(data, (int, float)):
        return torch.tensor(data)
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.tensor(data)
    raise TypeError(f'cannot convert {type(data).__name__} to a tensor')


def _chw(img: np.ndarray) -> np.ndarray:
    if img.ndim < 3:
        img = img[..., None]
    return np.ascontiguousarray(img.transpose(2, 0, 1))


@TRANSFORMS.register_module()
class ImageToTensor:
    """H×W×C arrays under ``keys`` → Tensor[C,H,W] (dtype kept)."""

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            results[key] = to_tensor(_chw(results[key]))
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys})'


@TRANSFORMS.register_module()
class DefaultFormatBundle:
    """``img`` → contiguous float Tensor[3,H,W]; ``gt_semantic_seg`` → int64 Tensor[1,H,W]."""

    def __call__(self, results: dict) -> dict:
        if 'img' in results:
            img = to_tensor(_chw(results['img']))
            results['img'] = img if img.is_floating_point() else img.float()
        if 'gt_semantic_seg' in results:
            results['gt_semantic_seg'] = to_tensor(results['gt_semantic_seg'][None, ...].astype(np.int64))
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}()'


@TRANSFORMS.register_module()
class Collect:
    """Keep ``keys`` and gather ``meta_keys`` into ``img_metas`` (a plain dict)."""

    def __init__(self, keys: Sequence[str],
                 meta_keys: Sequence[str] = ('filename', 'ori_filename', 'ori_shape', 'img_shape', 'pad_shape',
                                             'scale_factor', 'flip', 'flip_direction', 'img_norm_cfg')):
        self.keys = list(keys)
        self.meta_keys = list(meta_keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys + self.meta_keys:
            if key not in results:
                raise KeyError(f"Collect: key '{key}' is missing from the pipeline results "
                               f'(available: {sorted(results)})')
        data = {'img_metas': {k: results[k] for k in self.meta_keys}}
        for key in self.keys:
            data[key] = results[key]
        return data

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys}, meta_keys={self.meta_keys})'
