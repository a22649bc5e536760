"""Dataset wrappers: repeat one dataset, chain several with the same classes, or mix samples (mosaic)."""
import bisect
import collections.abc
import copy
from typing import Optional, Sequence

import numpy as np
from torch.utils.data import ConcatDataset as _TorchConcatDataset
from torch.utils.data import Dataset

from mmseg.registry import DATASETS


@DATASETS.register_module()
class ConcatDataset(_TorchConcatDataset):
    """Chain datasets; class names, palette, ignore_index and reduce_zero_label come from the first one."""

    def __init__(self, datasets: Sequence[Dataset]):
        super().__init__(datasets)
        first = self.datasets[0]
        self.CLASSES = getattr(first, 'CLASSES', None)
        self.PALETTE = getattr(first, 'PALETTE', None)
        self.ignore_index = getattr(first, 'ignore_index', 255)
        self.reduce_zero_label = getattr(first, 'reduce_zero_label', False)
        for i, d in enumerate(self.datasets[1:], 1):
            if list(getattr(d, 'CLASSES', None) or []) != list(self.CLASSES or []):  # a list equals a tuple
                raise ValueError(f'ConcatDataset: dataset {i} ({type(d).__name__}) has different CLASSES '
                                 f'from dataset 0 ({type(first).__name__})')

    def locate(self, idx: int):
        """``(dataset_index, sample_index)`` of global index ``idx``."""
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f'index {idx} out of range for ConcatDataset of length {len(self)}')
            idx += len(self)
        if idx >= len(self):
            raise IndexError(f'index {idx} out of range for ConcatDataset of length {len(self)}')
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return d, idx - (self.cumulative_sizes[d - 1] if d > 0 else 0)

    def get_gt_seg_map_by_idx(self, idx: int) -> np.ndarray:
        d, i = self.locate(idx)
        return self.datasets[d].get_gt_seg_map_by_idx(i)


@DATASETS.register_module()
class RepeatDataset(Dataset):
    """``times`` passes over ``dataset`` per epoch (index ``i`` → ``i % len(dataset)``); avoids epoch boundaries."""

    def __init__(self, dataset: Dataset, times: int):
        if int(times) < 1:
            raise ValueError(f'RepeatDataset times must be >= 1, got {times}')
        self.dataset = dataset
        self.times = int(times)
        self.CLASSES = getattr(dataset, 'CLASSES', None)
        self.PALETTE = getattr(dataset, 'PALETTE', None)
        self.ignore_index = getattr(dataset, 'ignore_index', 255)
        self.reduce_zero_label = getattr(dataset, 'reduce_zero_label', False)
        self._ori_len = len(dataset)

    def __getitem__(self, idx: int):
        return self.dataset[idx % self._ori_len]

    def __len__(self) -> int:
        return self.times * self._ori_len

    def get_gt_seg_map_by_idx(self, idx: int) -> np.ndarray:
        return self.dataset.get_gt_seg_map_by_idx(idx % self._ori_len)


@DATASETS.register_module()
class MultiImageMixDataset(Dataset):
    """Run a mixing pipeline (e.g. ``RandomMosaic``) over samples of ``dataset`` (mmseg 0.24.1 semantics).

    ``dataset`` (a dataset or its config) yields un-collated results (its own pipeline loads image and labels).
    For each transform with ``get_indexes(dataset)`` the other samples are fetched into ``results['mix_results']``
    just before it runs and removed after. Transform types in ``skip_type_keys`` are skipped.
    """

    def __init__(self, dataset, pipeline: Sequence[dict], skip_type_keys: Optional[Sequence[str]] = None):
        from mmseg.registry import TRANSFORMS
        if isinstance(dataset, collections.abc.Mapping):
            from .builder import build_dataset
            dataset = build_dataset(dataset)
        if isinstance(pipeline, (str, collections.abc.Mapping)) or not isinstance(pipeline, collections.abc.Sequence):
            raise TypeError(f'MultiImageMixDataset: pipeline must be a list of transform dicts, got {pipeline!r}')
        self.pipeline, self.pipeline_types = [], []
        for t in pipeline:
            if not isinstance(t, collections.abc.Mapping) or 'type' not in t:
                raise TypeError(f'MultiImageMixDataset: each pipeline entry must be a dict with a type, got {t!r}')
            self.pipeline_types.append(t['type'])
            self.pipeline.append(TRANSFORMS.build(dict(t)))
        self.update_skip_type_keys(skip_type_keys)
        self.dataset = dataset
        self.CLASSES = getattr(dataset, 'CLASSES', None)
        self.PALETTE = getattr(dataset, 'PALETTE', None)
        self.ignore_index = getattr(dataset, 'ignore_index', 255)
        self.reduce_zero_label = getattr(dataset, 'reduce_zero_label', False)
        self.num_samples = len(dataset)

    def update_skip_type_keys(self, skip_type_keys: Optional[Sequence[str]]) -> None:
        """Skip the transforms of these types from now on (e.g. turn mosaic off for the last iterations)."""
        if skip_type_keys is not None and not all(isinstance(k, str) for k in skip_type_keys):
            raise TypeError(f'MultiImageMixDataset: skip_type_keys must be a list of type names, '
                            f'got {skip_type_keys!r}')
        self._skip_type_keys = skip_type_keys

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, idx: int):
        results = copy.deepcopy(self.dataset[idx])
        for transform, kind in zip(self.pipeline, self.pipeline_types):
            if self._skip_type_keys is not None and kind in self._skip_type_keys:
                continue
            if hasattr(transform, 'get_indexes'):
                indexes = transform.get_indexes(self.dataset)
                if not isinstance(indexes, collections.abc.Sequence):
                    indexes = [indexes]
                results['mix_results'] = [copy.deepcopy(self.dataset[i]) for i in indexes]
            results = transform(results)
            results.pop('mix_results', None)
        return results

    def get_gt_seg_map_by_idx(self, idx: int) -> np.ndarray:
        return self.dataset.get_gt_seg_map_by_idx(idx)
