"""Build datasets from configs and batch them with a DataLoader (design.md "Data")."""
import copy
import random
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mmseg.registry import DATASETS
from .dataset_wrappers import ConcatDataset, RepeatDataset


def _concat_dataset(cfg: dict, default_args: Optional[dict]) -> ConcatDataset:
    """One dataset per entry of list-valued ``img_dir``/``ann_dir``/``split`` (e.g. VOC train + aug)."""
    lens = {k: len(cfg[k]) for k in ('img_dir', 'ann_dir', 'split') if isinstance(cfg.get(k), (list, tuple))}
    n = max(lens.values())
    for k, v in lens.items():
        if v != n and not (k == 'img_dir' and v == 1):
            raise ValueError(f'dataset config: {k} has {v} entries but another list has {n} ({lens})')
    parts = []
    for i in range(n):
        part = copy.deepcopy(cfg)
        for k in lens:
            part[k] = cfg[k][i] if len(cfg[k]) == n else cfg[k][0]
        parts.append(build_dataset(part, default_args))
    return ConcatDataset(parts)


def leaf_dataset_cfg(cfg: Any, split: str = 'test') -> Optional[dict]:
    """The config of the first file-backed dataset of ``cfg.data[split]``, through RepeatDataset/ConcatDataset
    wrappers and lists (None when there is none). ``split='test'`` falls back to ``val``, as the test tools do."""
    data = cfg.get('data') or {}
    ds = data.get(split)
    if ds is None and split == 'test':
        ds = data.get('val')
    while True:
        if isinstance(ds, (list, tuple)):
            ds = ds[0] if ds else None
        elif isinstance(ds, Mapping) and ds.get('type') in ('RepeatDataset', 'ConcatDataset',
                                                            'MultiImageMixDataset'):
            ds = ds.get('dataset') or (ds.get('datasets') or [None])[0]
        else:
            return ds


def _plain(cfg) -> dict:
    if not isinstance(cfg, Mapping):
        raise TypeError(f'a dataset config must be a dict, got {type(cfg).__name__}')
    return dict(cfg)


def build_dataset(cfg, default_args: Optional[dict] = None) -> Dataset:
    """Build from ``DATASETS``; handles lists (concat), ``RepeatDataset``, ``ConcatDataset`` and list-valued dirs."""
    if isinstance(cfg, (list, tuple)):
        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    cfg = _plain(cfg)
    kind = cfg.get('type')
    if kind == 'RepeatDataset':
        if 'dataset' not in cfg or 'times' not in cfg:
            raise KeyError("RepeatDataset config needs 'dataset' and 'times'")
        return RepeatDataset(build_dataset(cfg['dataset'], default_args), cfg['times'])
    if kind == 'ConcatDataset':
        if 'datasets' not in cfg:
            raise KeyError("ConcatDataset config needs 'datasets'")
        return ConcatDataset([build_dataset(c, default_args) for c in cfg['datasets']],
                             separate_eval=cfg.get('separate_eval', True))
    if any(isinstance(cfg.get(k), (list, tuple)) for k in ('img_dir', 'ann_dir', 'split')):
        return _concat_dataset(cfg, default_args)
    return DATASETS.build(cfg, default_args)


def _pad_stack(tensors: List[torch.Tensor], pad_value: float) -> torch.Tensor:
    """Stack [C,H,W] tensors, padding bottom/right to the largest H, W when sizes differ."""
    h = max(t.shape[-2] for t in tensors)
    w = max(t.shape[-1] for t in tensors)
    if all(t.shape[-2:] == (h, w) for t in tensors):
        return torch.stack(tensors)
    return torch.stack([F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2]), value=pad_value) for t in tensors])


_PAD_VALUES = {'gt_semantic_seg': 255}


def collate(samples: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Batch pipeline outputs.

    Train samples (``img`` a Tensor[3,H,W]) → ``img`` Tensor[B,3,H,W], ``gt_semantic_seg`` Tensor[B,1,H,W],
    ``img_metas`` list[dict]. Test samples (``img`` a list per aug) → ``img`` list (per aug) of Tensor[B,3,H,W],
    ``img_metas`` list (per aug) of list[dict]. Differently sized images are padded bottom/right (img with 0,
    labels with 255).
    """
    if not samples:
        raise ValueError('collate got an empty batch')
    out: Dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        pad = _PAD_VALUES.get(key, 0)
        if isinstance(values[0], list):
            n_aug = len(values[0])
            if any(len(v) != n_aug for v in values):
                raise ValueError(f"collate: samples have different numbers of augmentations for '{key}'")
            per_aug = [[v[a] for v in values] for a in range(n_aug)]
            if isinstance(values[0][0], torch.Tensor):
                out[key] = [_pad_stack(items, pad) for items in per_aug]
            else:
                out[key] = per_aug
        elif isinstance(values[0], torch.Tensor):
            out[key] = _pad_stack(values, pad) if values[0].dim() == 3 else torch.stack(values)
        else:
            out[key] = values
    return out


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """Seed numpy, random and torch in a worker with ``num_workers * rank + worker_id + seed``."""
    worker_seed = num_workers * rank + worker_id + seed
    np.random.seed(worker_seed % 2**32)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)
