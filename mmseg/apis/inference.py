"""High-level inference: build a segmentor from a config (+ checkpoint), predict images, draw overlays.

``init_segmentor`` → ``inference_segmentor`` → ``show_result`` is the MMSegmentation 0.24.1 API; every image runs
through the config's test pipeline and predictions come back at the original image size.
"""
import copy
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..utils import Config, get_root_logger

ImageLike = Union[str, np.ndarray]


def _plain_config(config: Union[str, Config], cfg_options: Optional[Dict] = None) -> Config:
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


def _dataset_cfg(cfg: Config) -> Optional[Dict]:
    """The test dataset config with Repeat/Concat wrappers peeled off (None when the config has no data)."""
    data = cfg.get('data') or {}
    ds = data.get('test') or data.get('val')
    while isinstance(ds, dict) and ds.get('type') in ('RepeatDataset', 'ConcatDataset'):
        ds = ds.get('dataset') or (ds.get('datasets') or [None])[0]
    if isinstance(ds, (list, tuple)):
        ds = ds[0] if ds else None
    return ds


def default_palette(num_classes: int, seed: int = 42) -> List[List[int]]:
    """A fixed pseudo-random RGB palette for datasets that define none."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num_classes, 3)).tolist()


def classes_and_palette(cfg: Config, num_classes: int,
                        meta: Optional[Dict] = None) -> Tuple[List[str], List[List[int]]]:
    """CLASSES/PALETTE from checkpoint ``meta`` if present, else the config's dataset (class or override)."""
    meta = meta or {}
    classes, palette = meta.get('CLASSES'), meta.get('PALETTE')
    ds = _dataset_cfg(cfg)
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


def init_segmentor(config: Union[str, Config], checkpoint: Optional[str] = None,
                   device: Union[str, torch.device] = 'cpu', cfg_options: Optional[Dict] = None,
                   fuse: bool = True) -> nn.Module:
    """Build the config's segmentor in eval mode on ``device``; load ``checkpoint`` (any supported layout).

    ImageNet pretraining named in the config is not loaded (the checkpoint holds the trained weights).
    The model gets ``cfg``, ``CLASSES`` and ``PALETTE`` (checkpoint meta first, then the config's dataset).
    """
    from ..engine import revert_sync_batchnorm
    from ..models import build_segmentor, load_checkpoint
    cfg = _plain_config(config, cfg_options)
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    backbone = cfg.model.get('backbone')
    if isinstance(backbone, dict):
        backbone.pop('init_cfg', None)
        backbone.pop('pretrained', None)
    model = build_segmentor(cfg.model)
    meta: Dict = {}
    if checkpoint is not None:
        meta = load_checkpoint(model, checkpoint, map_location='cpu')['meta']
    model = revert_sync_batchnorm(model)  # SyncBN needs a process group; single-process inference is plain BN
    model.CLASSES, model.PALETTE = classes_and_palette(cfg, model.num_classes, meta)
    model.cfg = cfg
    model = model.to(device).eval()
    # BN/layer-scale folding (and NHWC on CPU): same predictions up to float rounding, 1.4-1.6x faster on CPU
    # (benchmarks/speed/README.md). fuse=False keeps the checkpoint layout and the exact reference numerics.
    return model.fuse() if fuse else model


class LoadImage:
    """First pipeline step for a path or an in-memory BGR image (what ``LoadImageFromFile`` would set)."""

    def __call__(self, results: Dict) -> Dict:
        img = results['img']
        if isinstance(img, str):
            from ..datasets.pipelines.loading import imread_bgr
            results['filename'] = results['ori_filename'] = img
            img = imread_bgr(img)
        else:
            results['filename'] = results['ori_filename'] = None
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'inference_segmentor: expected an H×W×3 uint8 BGR image, got '
                             f'{img.dtype} {img.shape}')
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = results['pad_shape'] = img.shape
        results['scale_factor'] = 1.0
        results['img_norm_cfg'] = dict(mean=np.zeros(3, np.float32), std=np.ones(3, np.float32), to_rgb=False)
        return results


def build_test_pipeline(cfg: Config):
    """The config's test pipeline with its loading step replaced by :class:`LoadImage`."""
    from ..datasets.pipelines import Compose
    ds = _dataset_cfg(cfg)
    if ds is None or not ds.get('pipeline'):
        raise KeyError(f"config {getattr(cfg, 'filename', '')}: no data.test.pipeline to run inference with")
    steps = [dict(s) for s in ds['pipeline']]
    if steps and steps[0].get('type') == 'LoadImageFromFile':
        steps = steps[1:]
    return Compose([LoadImage()] + steps)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def inference_segmentor(model: nn.Module, imgs: Union[ImageLike, Sequence[ImageLike]]) -> List[np.ndarray]:
    """Segment image paths or BGR uint8 arrays; returns one H×W int64 class map per image at its own size."""
    from ..datasets import collate
    pipeline = getattr(model, '_test_pipeline', None)
    if pipeline is None:  # built once per model: a video calls this for every frame
        pipeline = model._test_pipeline = build_test_pipeline(model.cfg)
    device = _device_of(model)
    items = imgs if isinstance(imgs, (list, tuple)) else [imgs]
    results: List[np.ndarray] = []
    for img in items:  # one at a time: images of different sizes must not be padded together
        data = collate([pipeline(dict(img=img))])
        data['img'] = [t.to(device) for t in data['img']]
        results.extend(model(return_loss=False, rescale=True, **data))
    return results


def _read_bgr(img: ImageLike) -> np.ndarray:
    if isinstance(img, str):
        from ..datasets.pipelines.loading import imread_bgr
        return imread_bgr(img)
    return np.asarray(img)


def show_result(img: ImageLike, result: Union[np.ndarray, Sequence[np.ndarray]],
                palette: Sequence[Sequence[int]], class_names: Optional[Sequence[str]] = None,
                out_file: Optional[str] = None, opacity: float = 0.5, legend: bool = True) -> np.ndarray:
    """Blend the class map over the image (``(1 − opacity)·img + opacity·palette[class]``), with a legend of
    the classes present when ``class_names`` is given; write to ``out_file`` if given. Returns BGR uint8."""
    import cv2
    from ..core.visualization import draw_overlay
    seg = result[0] if isinstance(result, (list, tuple)) else result
    drawn = draw_overlay(_read_bgr(img), np.asarray(seg), palette, opacity=opacity, class_names=class_names,
                         legend=legend)
    if out_file is not None:
        parent = osp.dirname(osp.abspath(out_file))
        os.makedirs(parent, exist_ok=True)
        if not cv2.imwrite(out_file, drawn):
            raise OSError(f'cannot write image {out_file} (unknown extension or unwritable folder?)')
    return drawn


def show_result_pyplot(model: nn.Module, img: ImageLike, result: Union[np.ndarray, Sequence[np.ndarray]],
                       palette: Optional[Sequence[Sequence[int]]] = None, fig_size: Tuple[int, int] = (15, 10),
                       opacity: float = 0.5, title: str = '', block: bool = True,
                       out_file: Optional[str] = None) -> Any:
    """Show the overlay with matplotlib (the model's palette and class names unless ``palette`` is given)."""
    import matplotlib.pyplot as plt
    drawn = show_result(img, result, palette or model.PALETTE, getattr(model, 'CLASSES', None),
                        out_file=out_file, opacity=opacity)
    fig = plt.figure(figsize=fig_size)
    plt.imshow(drawn[..., ::-1])
    plt.title(title)
    plt.axis('off')
    plt.tight_layout()
    plt.show(block=block)
    get_root_logger().debug('displayed overlay of %s', img if isinstance(img, str) else 'array')
    return fig
