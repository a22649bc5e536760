"""MMSegmentation 0.24.1's dataset evaluation methods, as thin layers over this package's metrics.

Users' scripts and 0.24.1's own dataset tests call ``dataset.get_gt_seg_maps()``, ``dataset.pre_eval(preds,
indices)``, ``dataset.evaluate(results, metric)`` and ``dataset.format_results(results, imgfile_prefix)``. The
training and test loops do not use these (they stream predictions into ``mmseg.core.evaluation.SegEvaluator``); the
results here are computed by the same functions and returned in 0.24.1's form: ``aAcc``/``mIoU``/... and
``IoU.<class>``/``Acc.<class>``/... as fractions rounded to 0.01 %.
"""
import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from mmseg.utils import get_root_logger

ALLOWED_METRICS = ('mIoU', 'mDice', 'mFscore')


def _logger(logger) -> Optional[logging.Logger]:
    """0.24.1's ``print_log`` targets: None (the root logger), a Logger, a logger name, or 'silent'."""
    if logger == 'silent':
        return None
    if isinstance(logger, logging.Logger):
        return logger
    if isinstance(logger, str):
        return logging.getLogger(logger)
    return get_root_logger()


def _is_list_of(values, kind) -> bool:
    return isinstance(values, (list, tuple)) and all(isinstance(v, kind) for v in values)


def metrics_to_0241_results(ret_metrics: 'OrderedDict[str, np.ndarray]', class_names: Sequence,
                            logger=None) -> Dict[str, float]:
    """0.24.1's result dict (and log tables) from ``total_area_to_metrics`` output."""
    from mmseg.core.evaluation import format_table
    summary = OrderedDict((k, np.round(np.nanmean(v) * 100, 2)) for k, v in ret_metrics.items())
    per_class = OrderedDict((k, np.round(v * 100, 2)) for k, v in ret_metrics.items() if k != 'aAcc')
    log = _logger(logger)
    if log is not None:
        log.info('per class results:\n' + format_table(
            ['Class'] + list(per_class), [[name] + [v[i] for v in per_class.values()]
                                          for i, name in enumerate(class_names)]))
        log.info('Summary:\n' + format_table([k if k == 'aAcc' else 'm' + k for k in summary],
                                             [list(summary.values())]))
    results: Dict[str, float] = {}
    for key, value in summary.items():
        results[key if key == 'aAcc' else 'm' + key] = float(value) / 100.0
    for key, value in per_class.items():
        results.update({f'{key}.{name}': float(value[i]) / 100.0 for i, name in enumerate(class_names)})
    return results


class DatasetApi0241:
    """``get_gt_seg_maps``, ``pre_eval``, ``evaluate`` and ``format_results`` with 0.24.1's signatures; mixed into
    ``CustomDataset`` (needs its ``get_gt_seg_map_by_idx``, ``format_prediction``, ``img_infos``, ``CLASSES``)."""

    def get_gt_seg_maps(self, efficient_test=None) -> Iterator[np.ndarray]:
        """The ground-truth maps of every sample, in order, as read for evaluation (a generator, as 0.24.1)."""
        if efficient_test is not None:
            get_root_logger().warning('get_gt_seg_maps: efficient_test has no effect (deprecated since MMSeg 0.16)')
        for idx in range(len(self)):
            yield self.get_gt_seg_map_by_idx(idx)

    def pre_eval(self, preds, indices) -> List[tuple]:
        """Per-sample ``(intersect, union, pred_area, label_area)`` of predictions (one map or a list) against the
        ground truth of ``indices``."""
        from mmseg.core.evaluation import intersect_and_union
        indices = indices if isinstance(indices, list) else [indices]
        preds = preds if isinstance(preds, list) else [preds]
        return [intersect_and_union(pred, self.get_gt_seg_map_by_idx(index), len(self.CLASSES), self.ignore_index,
                                    label_map=dict(), reduce_zero_label=self.reduce_zero_label)
                for pred, index in zip(preds, indices)]

    def evaluate(self, results, metric: Union[str, Sequence[str]] = 'mIoU', logger=None, gt_seg_maps=None,
                 **kwargs) -> Dict[str, float]:
        """Metrics of ``results``: per-image prediction maps (arrays, or ``.npy``/image paths) against
        ``gt_seg_maps`` (default: this dataset's), or ``pre_eval`` tuples."""
        import torch

        from mmseg.core.evaluation import eval_metrics, total_area_to_metrics
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if not set(metrics) <= set(ALLOWED_METRICS):
            raise KeyError(f'metric {metrics} is not supported (choose from {list(ALLOWED_METRICS)}; Cityscapes '
                           f"'cityscapes' needs the official scripts: format the results with format_results)")
        num_classes = len(self.CLASSES)
        if _is_list_of(results, np.ndarray) or _is_list_of(results, str):
            ret = eval_metrics(results, self.get_gt_seg_maps() if gt_seg_maps is None else gt_seg_maps,
                               num_classes, self.ignore_index, metrics, label_map=dict(),
                               reduce_zero_label=self.reduce_zero_label)
        else:
            if not results or not all(isinstance(r, (tuple, list)) and len(r) == 4 for r in results):
                raise TypeError('evaluate: results must be prediction maps, their file names, or pre_eval tuples '
                                '(intersect, union, pred_area, label_area)')
            areas = [torch.stack([torch.as_tensor(a, dtype=torch.float64) for a in part]).sum(0)
                     for part in zip(*[tuple(r) for r in results])]
            ret = total_area_to_metrics(*areas, metrics=metrics)
        return metrics_to_0241_results(ret, self.CLASSES, logger)

    def format_results(self, results: List[np.ndarray], imgfile_prefix: str, to_label_id: bool = True,
                       indices: Optional[List[int]] = None) -> List[str]:
        """Write each prediction as ``<imgfile_prefix>/<image basename>.png`` in the dataset's submission format
        (:meth:`format_prediction`); returns the file names."""
        indices = list(range(len(self))) if indices is None else indices
        if not isinstance(results, list) or not isinstance(indices, list):
            raise TypeError('format_results: results and indices must be lists')
        if len(results) != len(indices):
            raise ValueError(f'format_results: {len(results)} results for {len(indices)} indices')
        os.makedirs(imgfile_prefix, exist_ok=True)
        files = []
        for result, idx in zip(results, indices):
            if isinstance(result, str):
                result = np.load(result)
            name = osp.splitext(osp.basename(self.img_infos[idx]['filename']))[0]
            path = osp.join(imgfile_prefix, f'{name}.png')
            self.format_prediction(result, to_label_id=to_label_id).save(path)
            files.append(path)
        return files
