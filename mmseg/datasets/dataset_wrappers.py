"""Dataset wrappers: repeat one dataset, chain several with the same classes, or mix samples (mosaic)."""
import bisect
import collections.abc
import copy
import itertools
from typing import Dict, List, Optional, Sequence

import numpy as np
from torch.utils.data import ConcatDataset as _TorchConcatDataset
from torch.utils.data import Dataset

from mmseg.registry import DATASETS


def _leaf_of(child: Dataset, index: int):
    """A child's ``(leaf, index)``; a dataset without the protocol is its own leaf."""
    return child.leaf_index(index) if hasattr(child, 'leaf_index') else (child, index)


class _Wrapper:
    """The dataset protocol for wrappers: each sample index maps to one leaf dataset and its own index."""

    def leaf_index(self, index: int):
        raise NotImplementedError

    def leaves(self) -> List[Dataset]:
        return [leaf for d in self._children() for leaf in (d.leaves() if hasattr(d, 'leaves') else [d])]

    def label_path(self, index: int) -> Optional[str]:
        leaf, i = self.leaf_index(index)
        return leaf.label_path(i)

    def format_prediction(self, pred, index: Optional[int] = None, to_label_id: bool = True):
        """The leaf dataset's submission image (the first leaf's when ``index`` is None)."""
        leaf, i = self.leaf_index(index) if index is not None else (self.leaves()[0], None)
        return leaf.format_prediction(pred, i, to_label_id=to_label_id)

    def get_gt_seg_map_by_idx(self, index: int) -> np.ndarray:
        leaf, i = self.leaf_index(index)
        return leaf.get_gt_seg_map_by_idx(i)


@DATASETS.register_module()
class ConcatDataset(_Wrapper, _TorchConcatDataset):
    """Chain datasets; class names, palette, ignore_index and reduce_zero_label come from the first one.

    ``separate_eval`` (0.24.1): :meth:`evaluate` scores each dataset on its own (keys ``<i>_mIoU``...) when True,
    or all images as one set when False. The training and test loops always score the concatenation as one set.
    """

    def __init__(self, datasets: Sequence[Dataset], separate_eval: bool = True):
        if separate_eval not in (True, False):
            raise ValueError(f'ConcatDataset: separate_eval must be True or False, got {separate_eval!r}')
        self.separate_eval = separate_eval
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

    get_dataset_idx_and_sample_idx = locate  # 0.24.1's name

    def _children(self):
        return self.datasets

    def leaf_index(self, index: int):
        d, i = self.locate(index)
        return _leaf_of(self.datasets[d], i)

    # -- 0.24.1's evaluation API ------------------------------------------------------------------------------
    def get_gt_seg_maps(self, efficient_test=None):
        return itertools.chain(*[d.get_gt_seg_maps(efficient_test) for d in self.datasets])

    def pre_eval(self, preds, indices) -> List[tuple]:
        indices = indices if isinstance(indices, list) else [indices]
        preds = preds if isinstance(preds, list) else [preds]
        out = []
        for pred, index in zip(preds, indices):
            d, i = self.locate(index)
            out.extend(self.datasets[d].pre_eval(pred, i))
        return out

    def evaluate(self, results, logger=None, **kwargs) -> Dict[str, float]:
        """0.24.1's ``ConcatDataset.evaluate``: per dataset (keys prefixed ``<i>_``) or as one set."""
        if len(results) != len(self):
            raise ValueError(f'ConcatDataset.evaluate: {len(results)} results for {len(self)} samples')
        from .standard import CityscapesDataset
        if any(isinstance(d, CityscapesDataset) for d in self.datasets):
            raise NotImplementedError('evaluating a ConcatDataset containing a CityscapesDataset is not supported '
                                      '(as 0.24.1): evaluate each dataset, or run tools/test.py on the config')
        if self.separate_eval:
            out: Dict[str, float] = {}
            for k, d in enumerate(self.datasets):
                start = self.cumulative_sizes[k - 1] if k else 0
                part = d.evaluate(results[start:self.cumulative_sizes[k]], logger=logger, **kwargs)
                out.update({f'{k}_{name}': v for name, v in part.items()})
            return out
        if len({type(d) for d in self.datasets}) != 1:
            raise NotImplementedError('ConcatDataset.evaluate with separate_eval=False needs datasets of one type')
        maps = isinstance(results, (list, tuple)) and all(isinstance(r, (np.ndarray, str)) for r in results)
        return self.datasets[0].evaluate(results, gt_seg_maps=self.get_gt_seg_maps() if maps else None,
                                         logger=logger, **kwargs)

    def format_results(self, results, imgfile_prefix: str, indices=None, **kwargs) -> List[str]:
        """Each sample through its dataset's ``format_results`` into ``<imgfile_prefix>/<dataset index>``."""
        indices = list(range(len(self))) if indices is None else indices
        if not isinstance(results, list) or not isinstance(indices, list):
            raise TypeError('format_results: results and indices must be lists')
        files = []
        for result, index in zip(results, indices):
            d, i = self.locate(index)
            files += self.datasets[d].format_results([result], f'{imgfile_prefix}/{d}', indices=[i], **kwargs)
        return files


@DATASETS.register_module()
class RepeatDataset(_Wrapper, Dataset):
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

    def _children(self):
        return [self.dataset]

    def leaf_index(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for RepeatDataset of length {len(self)}')
        return _leaf_of(self.dataset, index % self._ori_len)


@DATASETS.register_module()
class MultiImageMixDataset(_Wrapper, Dataset):
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

    def _children(self):
        return [self.dataset]

    def leaf_index(self, index: int):
        return _leaf_of(self.dataset, index)
