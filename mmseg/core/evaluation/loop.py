"""Inference loops over a dataloader: feed an evaluator, write overlays or submission PNGs, collect predictions."""
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import torch
from PIL import Image

from ..visualization import draw_overlay
from ...engine.data import to_device
from ...engine.dist import all_gather_object, get_device
from ...utils import get_dist_info
from ...utils.progress import progress_iter

# Cityscapes trainId 0..18 → labelId (evaluation server format); 255 → 0 ("unlabeled")
CITYSCAPES_TRAINID_TO_LABELID = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def trainid_to_labelid(seg: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    lut[:len(CITYSCAPES_TRAINID_TO_LABELID)] = CITYSCAPES_TRAINID_TO_LABELID
    return lut[np.asarray(seg, dtype=np.int64).clip(0, 255)]


def _first_aug_metas(img_metas: Any) -> List[dict]:
    """Per-image metas of the first augmentation (test batches hold a list per aug of a list per image)."""
    if isinstance(img_metas, list) and img_metas and isinstance(img_metas[0], list):
        return img_metas[0]
    return img_metas


def _write_formatted(pred: np.ndarray, meta: dict, dataset: Any, args: Dict[str, Any]) -> None:
    """Submission PNG ``<imgfile_prefix>/<image basename>.png``: Cityscapes and its night-driving subclasses: label
    IDs; a dataset's own ``format_prediction`` (LoveDA); otherwise reduce_zero_label: +1 (as 0.24.1)."""
    from ...datasets import CityscapesDataset
    prefix = args.get('imgfile_prefix', 'format_results')
    os.makedirs(prefix, exist_ok=True)
    name = osp.splitext(osp.basename(meta.get('ori_filename', meta.get('filename'))))[0]
    if isinstance(dataset, CityscapesDataset):
        out = trainid_to_labelid(pred) if args.get('to_label_id', True) else pred.astype(np.uint8)
        img = Image.fromarray(out).convert('P')
        palette = np.zeros((256, 3), dtype=np.uint8)
        for train_id, label_id in enumerate(CITYSCAPES_TRAINID_TO_LABELID):
            if train_id < len(getattr(dataset, 'PALETTE', []) or []):
                palette[label_id] = dataset.PALETTE[train_id]
        img.putpalette(palette.flatten().tolist())
    elif hasattr(dataset, 'format_prediction'):
        img = Image.fromarray(dataset.format_prediction(pred).astype(np.uint8))
    else:
        out = pred + 1 if getattr(dataset, 'reduce_zero_label', False) else pred
        img = Image.fromarray(out.astype(np.uint8))
    img.save(osp.join(prefix, f'{name}.png'))


def label_file(dataset: Any, index: int) -> Optional[str]:
    """Path of the label of sample ``index`` through Repeat/Concat wrappers (None when unknown): error messages
    name the file."""
    try:
        while True:
            if hasattr(dataset, 'locate'):  # ConcatDataset
                part, index = dataset.locate(index)
                dataset = dataset.datasets[part]
            elif hasattr(dataset, 'dataset') and not hasattr(dataset, 'img_infos'):  # RepeatDataset
                index = index % len(dataset.dataset)
                dataset = dataset.dataset
            else:
                seg_map = dataset.img_infos[index]['ann']['seg_map']
                return osp.join(dataset.ann_dir, seg_map) if dataset.ann_dir else seg_map
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
                _write_formatted(pred, metas[j], dataset, format_args or {})
            if keep_preds:
                kept[int(index)] = pred
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
