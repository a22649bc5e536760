"""Dataset-level segmentation evaluator with ``reset / process / evaluate`` (detectron2-style, mmseg metrics)."""
import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist

from mmseg.utils import get_root_logger, is_main_process

from .metrics import ALLOWED_METRICS, ArrayLike, _to_long_tensor, intersect_and_union, total_area_to_metrics

# per-class metric name -> summary key
_SUMMARY_NAMES = OrderedDict([('IoU', 'mIoU'), ('Acc', 'mAcc'), ('Dice', 'mDice'), ('Fscore', 'mFscore'),
                              ('Precision', 'mPrecision'), ('Recall', 'mRecall')])


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render a plain-text table with ``|`` separators and a ``+---+`` frame.

    Cells are converted with ``str``; each column is as wide as its widest cell.
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    ncol = len(header)
    if any(len(row) != ncol for row in cells):
        raise ValueError(f'every table row needs {ncol} cells to match header {list(header)}')
    widths = [max(len(row[i]) for row in cells) for i in range(ncol)]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(row: List[str]) -> str:
        return '| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'

    return '\n'.join([rule, line(cells[0]), rule] + [line(r) for r in cells[1:]] + [rule])


def _pct(x: float) -> str:
    """Fraction → percent string with two decimals (``nan`` stays ``nan``)."""
    return 'nan' if np.isnan(x) else f'{x * 100:.2f}'


class SegEvaluator:
    """Accumulates per-sample class areas and turns their dataset-wide sums into metrics.

    Args:
        num_classes: K.
        ignore_index: gt value excluded from every area.
        reduce_zero_label: ADE20K-style shift of the gt (0 → ignored, c → c-1) before counting.
        class_names: K names for the per-class table; defaults to ``'0'..'K-1'``.

    Samples are keyed by their dataset index: processing an index twice keeps the latest areas, and in distributed
    runs the per-rank dictionaries are merged by index, so the padding repeats a ``DistributedSampler`` adds when
    ``len(dataset) % world_size != 0`` are counted once.
    """

    def __init__(self,
                 num_classes: int,
                 ignore_index: int = 255,
                 reduce_zero_label: bool = False,
                 class_names: Optional[Sequence[str]] = None) -> None:
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f'class_names has {len(class_names)} entries but num_classes is {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.class_names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        self._areas: Dict[int, np.ndarray] = {}

    def reset(self) -> None:
        self._areas = {}

    def __len__(self) -> int:
        return len(self._areas)

    def process(self, pred: ArrayLike, gt: ArrayLike, index: int, name: Optional[str] = None) -> None:
        """Count the areas of one sample: ``pred`` and ``gt`` are [H, W] maps (gt as read from disk).

        A gt value that is neither a class (after ``reduce_zero_label``) nor ``ignore_index`` raises naming
        ``name`` (the label file) and the value: MMSegmentation 0.24.1 drops such pixels from every class and
        scores the rest, so a wrong label or class count would go unnoticed.
        """
        where = name or f'sample {index}'
        gt = _to_long_tensor(gt, 'ground-truth')
        label = gt
        if self.reduce_zero_label:
            label = torch.where(gt == 0, 255, gt - 1)
            label[label == 254] = 255
        bad = label[((label < 0) | (label >= self.num_classes)) & (label != self.ignore_index)]
        if bad.numel():
            raw = gt[((label < 0) | (label >= self.num_classes)) & (label != self.ignore_index)]
            values = sorted(set(raw.unique().tolist()))
            raise ValueError(f'ground truth {where} has value{"s" if len(values) > 1 else ""} '
                             f'{", ".join(map(str, values[:5]))} but the evaluation has {self.num_classes} classes '
                             f'(valid: 0..{self.num_classes - 1} and {self.ignore_index}'
                             f'{" after reduce_zero_label" if self.reduce_zero_label else ""}); it would be scored '
                             f'silently wrong. Fix the label, the classes or reduce_zero_label '
                             f'(tools/check_dataset.py CONFIG --split val lists every such file)')
        try:
            areas = intersect_and_union(pred, gt, self.num_classes, self.ignore_index,
                                        reduce_zero_label=self.reduce_zero_label)
        except ValueError as e:
            raise ValueError(f'{where}: {e}') from e
        # a float64[4, K] array is small and pickles cheaply for the distributed gather
        self._areas[int(index)] = torch.stack(areas).numpy()

    def _gathered_areas(self) -> Dict[int, np.ndarray]:
        """This rank's areas, or the union over all ranks (by index) when a process group is up."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return dict(self._areas)
        parts: List[Optional[Dict[int, np.ndarray]]] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, self._areas)
        merged: Dict[int, np.ndarray] = {}
        for part in parts:
            for index, areas in part.items():  # type: ignore[union-attr]
                merged.setdefault(index, areas)  # a padded repeat has the same areas as the original
        return merged

    def total_areas(self) -> Tuple[torch.Tensor, ...]:
        """Dataset-wide ``(intersect, union, pred_label, label)`` sums, float64[K] each."""
        areas = self._gathered_areas()
        if not areas:
            raise RuntimeError('SegEvaluator.evaluate() called before any sample was processed')
        total = np.zeros((4, self.num_classes), dtype=np.float64)
        for index in sorted(areas):
            total += areas[index]
        return tuple(torch.from_numpy(row.copy()) for row in total)

    def evaluate(self,
                 metrics: Sequence[str] = ('mIoU', ),
                 logger: Optional[logging.Logger] = None,
                 beta: float = 1) -> Dict[str, object]:
        """Compute metrics over every processed sample (of every rank; a collective call in distributed runs).

        Returns:
            ``aAcc`` and the requested summaries (``mIoU``/``mAcc``, ``mDice``, ``mFscore``/``mPrecision``/
            ``mRecall``) as floats in [0, 1] (nanmean over classes), plus per-class float64[K] arrays under
            ``IoU``, ``Acc``, ``Dice``, ``Fscore``, ``Precision``, ``Recall``.
        """
        if isinstance(metrics, str):
            metrics = [metrics]
        unknown = [m for m in metrics if m not in ALLOWED_METRICS]
        if unknown:
            raise KeyError(f'metrics {unknown} are not supported; choose from {list(ALLOWED_METRICS)}')
        per_class = total_area_to_metrics(*self.total_areas(), metrics=metrics, beta=beta)

        results: Dict[str, object] = {'aAcc': float(per_class.pop('aAcc'))}
        for name, values in per_class.items():
            results[_SUMMARY_NAMES[name]] = float(np.nanmean(values)) if not np.all(np.isnan(values)) else float('nan')
        results.update(per_class)

        if is_main_process():
            self._log(per_class, results, logger or get_root_logger())
        return results

    def _log(self, per_class: 'OrderedDict[str, np.ndarray]', results: Dict[str, object],
             logger: logging.Logger) -> None:
        header = ['Class'] + list(per_class)
        rows = [[name] + [_pct(v[i]) for v in per_class.values()] for i, name in enumerate(self.class_names)]
        logger.info('per class results:\n' + format_table(header, rows))
        summary_keys = ['aAcc'] + [_SUMMARY_NAMES[k] for k in per_class]
        logger.info('Summary:\n' + format_table(summary_keys, [[_pct(results[k]) for k in summary_keys]]))
