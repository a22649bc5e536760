"""Shared parts of the losses: class weights from a config value or a file, and MMSegmentation 0.24.1's reduction."""
import json
import os.path as osp
import pickle
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

# 0.24.1 divides by ``avg_factor + eps`` so that a batch whose pixels are all ignored gives 0, not NaN
_EPS = torch.finfo(torch.float32).eps


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles numbers, lists/tuples/dicts and numpy arrays only: a class-weight pickle never runs code."""

    _ALLOWED = {
        ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
        ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
        ('numpy', 'ndarray'), ('numpy', 'dtype'),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'{module}.{name} is not plain data')


def _read_weight_file(path: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'class_weight file {path} does not exist')
    ext = osp.splitext(path)[1].lower()
    try:
        if ext == '.npy':
            return np.load(path, allow_pickle=False)
        if ext == '.json':
            with open(path) as f:
                return json.load(f)
        if ext in ('.yaml', '.yml'):
            import yaml
            with open(path) as f:
                return yaml.safe_load(f)
        if ext in ('.pkl', '.pickle'):
            with open(path, 'rb') as f:
                return _PlainDataUnpickler(f).load()
    except (ValueError, OSError, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f'class_weight file {path} cannot be read as a list of numbers: {e}') from e
    except Exception as e:  # yaml's errors, without importing yaml at module level
        raise ValueError(f'class_weight file {path} cannot be read as a list of numbers: {e}') from e
    raise ValueError(f"class_weight file {path}: unknown format '{ext}' (.npy, .json, .yaml or .pkl, as 0.24.1 "
                     f"reads with mmcv.load)")


def get_class_weight(class_weight: Union[str, Sequence[float], None], owner: str = 'loss') -> Optional[List[float]]:
    """``class_weight`` as a list of floats: given as a list, or read from a ``.npy``/``.json``/``.yaml``/``.pkl`` file
    (0.24.1 reads the non-.npy ones with ``mmcv.load``; pickles here may hold plain data only)."""
    if class_weight is None:
        return None
    source = 'class_weight'
    if isinstance(class_weight, str):
        source = f'class_weight file {class_weight}'
        class_weight = _read_weight_file(class_weight)
    values = np.asarray(class_weight, dtype=object)
    try:
        floats = np.asarray(class_weight, dtype=np.float64)
    except (TypeError, ValueError):
        floats = None
    if floats is None or floats.ndim != 1 or floats.size == 0 or values.dtype == bool:
        raise ValueError(f'{owner}: {source} must be a flat list of numbers, got {class_weight!r}')
    return floats.tolist()


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    if reduction == 'none':
        return loss
    if reduction == 'mean':
        return loss.mean()
    if reduction == 'sum':
        return loss.sum()
    raise ValueError(f"reduction '{reduction}' is not one of none/mean/sum")


def weight_reduce_loss(loss: Tensor, weight: Optional[Tensor] = None, reduction: str = 'mean',
                       avg_factor: Optional[float] = None) -> Tensor:
    """Multiply by an element weight, then reduce (0.24.1's ``weight_reduce_loss``): 'mean' with ``avg_factor``
    is ``sum / (avg_factor + eps)``; ``avg_factor`` with 'sum' is an error."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == 'mean':
        return loss.sum() / (avg_factor + _EPS)
    if reduction != 'none':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss


def pick_reduction(owner: str, reduction: str, override: Optional[str] = None) -> str:
    """``override`` (a per-call ``reduction_override``) or the loss's own ``reduction``, checked."""
    chosen = override if override is not None else reduction
    if chosen not in ('mean', 'sum', 'none'):
        raise ValueError(f"{owner}: reduction '{chosen}' is not one of mean/sum/none")
    return chosen
