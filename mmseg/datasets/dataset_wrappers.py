"""Dataset wrappers: repeat one dataset, or chain several with the same classes."""
import bisect
from typing import Sequence

import numpy as np
from torch.utils.data import ConcatDataset as _TorchConcatDataset
from torch.utils.data import Dataset

from mmseg.registry import DATASETS


@DATASETS.register_module()
class ConcatDataset(_TorchConcatDataset):
    """Chain datasets; class names, palette, ignore_index and reduce_zero_label come from the first one."""

    def __init__(self, datasets: Sequence[Dataset], separate_eval: bool = True):
        super().__init__(datasets)
        first = self.datasets[0]
        self.CLASSES = getattr(first, 'CLASSES', None)
        self.PALETTE = getattr(first, 'PALETTE', None)
        self.ignore_index = getattr(first, 'ignore_index', 255)
        self.reduce_zero_label = getattr(first, 'reduce_zero_label', False)
        self.separate_eval = separate_eval
        for i, d in enumerate(self.datasets[1:], 1):
            if getattr(d, 'CLASSES', None) != self.CLASSES:
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

    def get_gt_seg_maps(self):
        for i in range(len(self)):
            yield self.get_gt_seg_map_by_idx(i)


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
