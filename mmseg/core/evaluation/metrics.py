"""Semantic-segmentation metrics with MMSegmentation 0.24.1 semantics (spec §9).

Every function works on per-class pixel *areas* (counts). Areas are summed over the whole dataset before any
ratio is taken, so large images weigh more than small ones; there is no per-image averaging.
"""
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor, str]
Areas = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

ALLOWED_METRICS = ('mIoU', 'mDice', 'mFscore')


def _read_map(path: str, what: str) -> np.ndarray:
    """A map from disk: ``.npy`` with numpy (MMSegmentation 0.24.1 saves predictions so), images with pillow in
    unchanged mode (palette → indices, 16-bit kept; more than one channel is refused naming the file)."""
    if path.endswith('.npy'):
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise OSError(f'cannot read {what} map {path!r}: {e}') from e
    from mmseg.datasets.pipelines.loading import read_label
    return read_label(path)


def _to_long_tensor(x: ArrayLike, what: str) -> torch.Tensor:
    """Turn an array, tensor or path (``.npy`` or label image) into an int64 tensor (copied, never aliased)."""
    if isinstance(x, str):
        x = _read_map(x, what)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.astype(np.int64, copy=True))
    if isinstance(x, torch.Tensor):
        return x.detach().to('cpu', torch.int64).clone()
    raise TypeError(f'{what} must be a numpy array, a tensor or a file path, got {type(x).__name__}')


def _class_hist(values: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Pixel count per class in [0, K-1] as float64[K].

    Equals ``torch.histc(values.float(), bins=K, min=0, max=K-1)`` for integer inputs (values outside the range are
    dropped) but counts exactly in int64, so huge datasets do not hit float32 rounding.
    """
    values = values[(values >= 0) & (values < num_classes)]
    return torch.bincount(values, minlength=num_classes).to(torch.float64)


def intersect_and_union(pred: ArrayLike,
                        label: ArrayLike,
                        num_classes: int,
                        ignore_index: int,
                        label_map: Optional[Dict[int, int]] = None,
                        reduce_zero_label: bool = False) -> Areas:
    """Per-class areas of one image.

    Args:
        pred: prediction map [H, W] (or a path to one: ``.npy`` or an image).
        label: ground truth [H, W] as read from disk (or a path to one: a label image or ``.npy``).
        num_classes: K.
        ignore_index: label value whose pixels are dropped from both maps.
        label_map: optional ``{old_id: new_id}`` applied to the ground truth first.
        reduce_zero_label: map gt 0 → 255, subtract 1, and 254 → 255 (ADE20K-style).

    Returns:
        ``(area_intersect, area_union, area_pred_label, area_label)``, each float64[K].
    """
    pred = _to_long_tensor(pred, 'prediction')
    label = _to_long_tensor(label, 'ground-truth')
    if pred.shape != label.shape:
        raise ValueError(f'prediction shape {tuple(pred.shape)} != ground-truth shape {tuple(label.shape)}')
    if label_map:
        original = label.clone()  # look up old ids in the untouched map so chained mappings do not cascade
        for old_id, new_id in label_map.items():
            label[original == old_id] = new_id
    if reduce_zero_label:
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255

    keep = label != ignore_index
    pred, label = pred[keep], label[keep]
    intersect = pred[pred == label]
    area_intersect = _class_hist(intersect, num_classes)
    area_pred_label = _class_hist(pred, num_classes)
    area_label = _class_hist(label, num_classes)
    area_union = area_pred_label + area_label - area_intersect
    return area_intersect, area_union, area_pred_label, area_label


def total_intersect_and_union(results: Iterable[ArrayLike],
                              gt_seg_maps: Iterable[ArrayLike],
                              num_classes: int,
                              ignore_index: int,
                              label_map: Optional[Dict[int, int]] = None,
                              reduce_zero_label: bool = False) -> Areas:
    """Sum :func:`intersect_and_union` over a dataset; returns four float64[K] tensors."""
    totals = [torch.zeros(num_classes, dtype=torch.float64) for _ in range(4)]
    count = 0
    for pred, gt in zip(results, gt_seg_maps):
        areas = intersect_and_union(pred, gt, num_classes, ignore_index, label_map, reduce_zero_label)
        for total, area in zip(totals, areas):
            total += area
        count += 1
    if count == 0:
        raise ValueError('no (prediction, ground truth) pairs to evaluate')
    return tuple(totals)  # type: ignore[return-value]


def f_score(precision: torch.Tensor, recall: torch.Tensor, beta: float = 1) -> torch.Tensor:
    """F-beta score: (1 + β²)·P·R / (β²·P + R)."""
    return (1 + beta**2) * (precision * recall) / ((beta**2 * precision) + recall)


def total_area_to_metrics(total_area_intersect: torch.Tensor,
                          total_area_union: torch.Tensor,
                          total_area_pred_label: torch.Tensor,
                          total_area_label: torch.Tensor,
                          metrics: Union[str, Sequence[str]] = ('mIoU', ),
                          nan_to_num: Optional[float] = None,
                          beta: float = 1) -> 'OrderedDict[str, np.ndarray]':
    """Dataset-level metrics from summed areas.

    Returns an ordered dict: ``aAcc`` (scalar array) then per-class float64[K] arrays — ``IoU``/``Acc`` for mIoU,
    ``Dice``/``Acc`` for mDice, ``Fscore``/``Precision``/``Recall`` for mFscore. Classes with no pixels in
    prediction and gt come out NaN (replaced by ``nan_to_num`` when given), so a nanmean skips them.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in ALLOWED_METRICS]
    if unknown:
        raise KeyError(f'metrics {unknown} are not supported; choose from {list(ALLOWED_METRICS)}')

    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    out['aAcc'] = total_area_intersect.sum() / total_area_label.sum()
    for metric in metrics:
        if metric == 'mIoU':
            out['IoU'] = total_area_intersect / total_area_union
            out['Acc'] = total_area_intersect / total_area_label
        elif metric == 'mDice':
            out['Dice'] = 2 * total_area_intersect / (total_area_pred_label + total_area_label)
            out['Acc'] = total_area_intersect / total_area_label
        elif metric == 'mFscore':
            precision = total_area_intersect / total_area_pred_label
            recall = total_area_intersect / total_area_label
            out['Fscore'] = f_score(precision, recall, beta)
            out['Precision'] = precision
            out['Recall'] = recall

    result = OrderedDict((k, v.numpy()) for k, v in out.items())
    if nan_to_num is not None:
        result = OrderedDict((k, np.nan_to_num(v, nan=nan_to_num)) for k, v in result.items())
    return result


def eval_metrics(results: Iterable[ArrayLike],
                 gt_seg_maps: Iterable[ArrayLike],
                 num_classes: int,
                 ignore_index: int,
                 metrics: Union[str, Sequence[str]] = ('mIoU', ),
                 nan_to_num: Optional[float] = None,
                 label_map: Optional[Dict[int, int]] = None,
                 reduce_zero_label: bool = False,
                 beta: float = 1) -> 'OrderedDict[str, np.ndarray]':
    """Dataset-level metrics for lists of predictions and ground truths (see :func:`total_area_to_metrics`)."""
    areas = total_intersect_and_union(results, gt_seg_maps, num_classes, ignore_index, label_map, reduce_zero_label)
    return total_area_to_metrics(*areas, metrics=metrics, nan_to_num=nan_to_num, beta=beta)


def mean_iou(results, gt_seg_maps, num_classes, ignore_index, nan_to_num=None, label_map=None,
             reduce_zero_label=False):
    """Shortcut for ``eval_metrics(..., metrics=['mIoU'])``."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, ['mIoU'], nan_to_num, label_map,
                        reduce_zero_label)


def mean_dice(results, gt_seg_maps, num_classes, ignore_index, nan_to_num=None, label_map=None,
              reduce_zero_label=False):
    """Shortcut for ``eval_metrics(..., metrics=['mDice'])``."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, ['mDice'], nan_to_num, label_map,
                        reduce_zero_label)


def mean_fscore(results, gt_seg_maps, num_classes, ignore_index, nan_to_num=None, label_map=None,
                reduce_zero_label=False, beta=1):
    """Shortcut for ``eval_metrics(..., metrics=['mFscore'])``."""
    return eval_metrics(results, gt_seg_maps, num_classes, ignore_index, ['mFscore'], nan_to_num, label_map,
                        reduce_zero_label, beta)
