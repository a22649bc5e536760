"""The one build sequence of an inference model: :func:`build_inference_model`.

``init_segmentor``, :class:`mmseg.apis.segmenter.Segmenter`, ``tools/test.py``, ``tools/quantize.py``,
``tools/infer.py``, the demos and the hub loader all build through it: resolve the checkpoint argument, read the
config, drop the ImageNet-pretraining keys, build, load the weights (or take an exported graph), revert SyncBN,
move to the device, eval, and plug in the runtime (``mmseg.deploy.backends.select_backend``).
"""
import copy
import os
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..utils import Config


def load_config(config: Union[str, os.PathLike, Config], cfg_options: Optional[Dict] = None) -> Config:
    """A private copy of ``config`` (a path or a Config) with ``cfg_options`` merged; it must have ``model``."""
    if isinstance(config, (str, os.PathLike)):
        config = Config.fromfile(str(config))
    elif not isinstance(config, Config):
        raise TypeError(f'config must be a file path or a Config, got {type(config).__name__}')
    else:
        config = copy.deepcopy(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f"config {getattr(config, 'filename', '')} has no 'model' key")
    return config


def default_palette(num_classes: int, seed: int = 42) -> List[List[int]]:
    """A fixed pseudo-random RGB palette for datasets that define none."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num_classes, 3)).tolist()


def classes_and_palette(cfg: Config, num_classes: int,
                        meta: Optional[Dict] = None) -> Tuple[List[str], List[List[int]]]:
    """CLASSES/PALETTE from checkpoint ``meta`` if present, else the config's dataset (class or override)."""
    meta = meta or {}
    classes, palette = meta.get('CLASSES'), meta.get('PALETTE')
    from ..datasets.builder import leaf_dataset_cfg
    ds = leaf_dataset_cfg(cfg, 'test')
    if ds is not None:
        from ..registry import DATASETS
        import mmseg.datasets  # noqa: F401  (registers the dataset classes)
        ds_cls = DATASETS.get(ds.get('type')) if ds.get('type') else None
        if classes is None:
            classes = ds.get('classes') or getattr(ds_cls, 'CLASSES', None)
        if palette is None:
            palette = ds.get('palette') or getattr(ds_cls, 'PALETTE', None)
    if classes is None:
        classes = [f'class_{i}' for i in range(num_classes)]
    if palette is None or len(palette) < len(classes):
        palette = default_palette(len(classes))
    return list(classes), [list(map(int, c)) for c in palette]


def resolve_checkpoint(config: Any, checkpoint: Optional[str]) -> Tuple[Any, Optional[str]]:
    """The one place where the (config, checkpoint) arguments are resolved: a model zoo name
    (``'segnext_mscan-t_ade20k'``, ``tools/zoo.py list``) as ``config`` or ``checkpoint`` becomes the zoo's config
    and/or downloaded weights, a URL a downloaded file; a model folder or ``hf-hub:`` id as ``config`` (with no
    checkpoint) becomes its ``config.py`` and weights. Local files are left to ``load_checkpoint``."""
    from ..models.zoo import resolve
    from .model_folder import resolve_pretrained
    config, checkpoint = resolve(config, checkpoint)  # model zoo names (mmseg.models.zoo) and URLs -> local files
    found = resolve_pretrained(config) if checkpoint is None else None
    if found:
        return found
    return config, checkpoint


def default_device(backend: str = 'pytorch', device: Union[None, str, torch.device] = None) -> torch.device:
    """``device`` if given; else the current CUDA device for the PyTorch backends when there is one, else the CPU
    (the deploy runtimes run on the CPU)."""
    if device is not None:
        return torch.device(device)
    if backend in ('pytorch', 'compiled', 'auto') and torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def build_inference_model(cfg: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None,
                          device: Union[None, str, torch.device] = None, backend: str = 'pytorch',
                          precision: Optional[str] = None, fuse: bool = True, cfg_options: Optional[Dict] = None,
                          shape_mode: str = 'dynamic', threads: Optional[int] = None) -> nn.Module:
    """The eval-mode segmentor of ``cfg`` with ``checkpoint`` loaded (any supported layout; ``checkpoint_meta``
    holds its meta), on ``device`` (:func:`default_device`), its head logits computed by ``backend``:

    'pytorch' (``precision`` 'fp32' or 'bf16'), 'compiled', 'onnxruntime', 'openvino' or 'auto' (measured once per
    machine, model and input size; ``mmseg.deploy.auto``). An ``.onnx`` / OpenVINO ``.xml`` checkpoint (an export
    or ``tools/quantize.py``'s INT8 model) runs as is. ``fuse`` folds BN and layer scales (same predictions up to
    float rounding, faster); ``fuse=False`` keeps the exact reference numerics. ``shape_mode`` 'dynamic' or
    'static': the graphs the deploy runtimes export. ``cfg`` may be a model folder or ``hf-hub:`` id (then
    ``checkpoint`` is its weights). ImageNet pretraining named in the config is not loaded.
    """
    from ..deploy.backends import check_backend, is_graph_file, select_backend
    from ..models import build_segmentor, load_checkpoint
    from ..models.utils import revert_sync_batchnorm
    cfg, checkpoint = resolve_checkpoint(cfg, checkpoint)
    device = default_device(backend, device)
    check_backend(backend, device, checkpoint, precision)
    graph_file = str(checkpoint) if is_graph_file(checkpoint) else None
    cfg = load_config(cfg, cfg_options)
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    backbone = cfg.model.get('backbone')
    if isinstance(backbone, dict):
        backbone.pop('init_cfg', None)
        backbone.pop('pretrained', None)
    model = build_segmentor(cfg.model)
    if checkpoint is not None and graph_file is None:
        model.checkpoint_meta = dict(load_checkpoint(model, checkpoint, map_location='cpu')['meta'] or {})
    model = revert_sync_batchnorm(model)  # SyncBN needs a process group; in eval mode it is plain BN
    model = model.to(device).eval()
    return select_backend(model, backend, device, fuse, graph_file, shape_mode, precision, dict(cfg.model), threads)
