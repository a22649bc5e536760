"""Inference loops over a dataloader: feed an evaluator, write overlays or submission PNGs, collect predictions."""
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import torch

from ..visualization import draw_overlay
from ...datasets.standard import CITYSCAPES_TRAINID_TO_LABELID, trainid_to_labelid  # noqa: F401 (re-exported)
from ...engine.data import to_device
from ...engine.dist import after_batch, all_gather_object, get_device
from ...utils import get_dist_info
from ...utils.progress import progress_iter

def _first_aug_metas(img_metas: Any) -> List[dict]:
    """Per-image metas of the first augmentation (test batches hold a list per aug of a list per image)."""
    if isinstance(img_metas, list) and img_metas and isinstance(img_metas[0], list):
        return img_metas[0]
    return img_metas


def _write_formatted(pred: np.ndarray, meta: dict, index: int, dataset: Any, args: Dict[str, Any]) -> None:
    """Submission PNG ``<imgfile_prefix>/<image basename>.png`` in the dataset's format
    (``dataset.format_prediction``: Cityscapes label IDs, LoveDA as is, otherwise +1 under reduce_zero_label)."""
    prefix = args.get('imgfile_prefix', 'format_results')
    os.makedirs(prefix, exist_ok=True)
    name = osp.splitext(osp.basename(meta.get('ori_filename', meta.get('filename'))))[0]
    img = dataset.format_prediction(pred, index, to_label_id=args.get('to_label_id', True))
    img.save(osp.join(prefix, f'{name}.png'))


def label_file(dataset: Any, index: int) -> Optional[str]:
    """Path of the label of sample ``index`` (``dataset.label_path``; None when unknown): error messages name
    the file."""
    try:
        return dataset.label_path(index)
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def _show(pred: np.ndarray, meta: dict, dataset: Any, show_dir: str, opacity: float) -> None:
    img = cv2.imread(meta['filename'], cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {meta['filename']} for --show-dir")
    if img.shape[:2] != pred.shape[:2]:
        img = cv2.resize(img, (pred.shape[1], pred.shape[0]))
    out = draw_overlay(img, pred, dataset.PALETTE, opacity, class_names=getattr(dataset, 'CLASSES', None))
    path = osp.join(show_dir, meta.get('ori_filename', osp.basename(meta['filename'])))
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    cv2.imwrite(path, out)


def _run(model: torch.nn.Module, data_loader, evaluator, show_dir, opacity, format_only, format_args,
         keep_preds: bool, progress: bool) -> Dict[int, np.ndarray]:
    dataset = data_loader.dataset
    device = next(model.parameters()).device if any(True for _ in model.parameters()) else get_device()
    batches = iter(data_loader.batch_sampler)
    kept: Dict[int, np.ndarray] = {}
    model.eval()
    # a bar on a terminal (log lines above it), else a progress line with ETA at least every 30 s
    for data in progress_iter(data_loader, 'test', unit='batch', enabled=progress):
        indices = next(batches)
        with torch.inference_mode():
            preds = model(return_loss=False, rescale=True, **to_device(data, device))
        metas = _first_aug_metas(data['img_metas'])
        for j, (index, pred) in enumerate(zip(indices, preds)):
            pred = np.asarray(pred)
            if evaluator is not None:
                evaluator.process(pred, dataset.get_gt_seg_map_by_idx(index), index, name=label_file(dataset, index))
            if show_dir:
                _show(pred, metas[j], dataset, show_dir, opacity)
            if format_only:
                _write_formatted(pred, metas[j], index, dataset, format_args or {})
            if keep_preds:
                kept[int(index)] = pred
        after_batch()  # e.g. the trainer's stop agreement in distributed evaluations (engine.dist.between_batches)
    return kept


def single_gpu_test(model: torch.nn.Module, data_loader, evaluator=None, show_dir: Optional[str] = None,
                    opacity: float = 0.5, format_only: bool = False, format_args: Optional[dict] = None,
                    keep_preds: Optional[bool] = None) -> List[np.ndarray]:
    """Run ``model(return_loss=False, rescale=True, **data)`` over ``data_loader``.

    Each prediction ([H, W] int at the original size) is fed with its dataset index to ``evaluator.process``
    (gt from ``dataset.get_gt_seg_map_by_idx``), drawn to ``show_dir`` and/or written as a submission PNG.
    Returns the predictions in dataset order when ``keep_preds`` (default: no evaluator and not format_only),
    else ``[]``; call ``evaluator.evaluate(...)`` afterwards for metrics.
    """
    if keep_preds is None:
        keep_preds = evaluator is None and not format_only
    kept = _run(model, data_loader, evaluator, show_dir, opacity, format_only, format_args, keep_preds, True)
    return [kept[i] for i in sorted(kept)]


def multi_gpu_test(model: torch.nn.Module, data_loader, evaluator=None, show_dir: Optional[str] = None,
                   opacity: float = 0.5, format_only: bool = False, format_args: Optional[dict] = None,
                   keep_preds: Optional[bool] = None) -> List[np.ndarray]:
    """:func:`single_gpu_test` on this rank's shard; kept predictions are gathered to every rank by index.

    The evaluator merges its per-rank areas by index in ``evaluate``, so padded repeats count once.
    """
    if keep_preds is None:
        keep_preds = evaluator is None and not format_only
    rank, _ = get_dist_info()
    kept = _run(model, data_loader, evaluator, show_dir, opacity, format_only, format_args, keep_preds,
                rank == 0)
    if not keep_preds:
        return []
    merged: Dict[int, np.ndarray] = {}
    for part in all_gather_object(kept):
        for k, v in part.items():
            merged.setdefault(k, v)
    return [merged[i] for i in sorted(merged)]
