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

ImageLike = Union[str, np.ndarray, 'PIL.Image.Image']  # noqa: F821 (pillow is imported lazily)


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
    from ..datasets.builder import leaf_dataset_cfg
    return leaf_dataset_cfg(cfg, 'test')


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
                   fuse: bool = True, backend: str = 'pytorch', shape_mode: str = 'dynamic',
                   precision: Optional[str] = None) -> nn.Module:
    """Build the config's segmentor in eval mode on ``device``; load ``checkpoint`` (any supported layout).

    ImageNet pretraining named in the config is not loaded (the checkpoint holds the trained weights).
    The model gets ``cfg``, ``CLASSES`` and ``PALETTE`` (checkpoint meta first, then the config's dataset).
    ``backend``: 'pytorch', 'onnxruntime' (CPU; the graph is exported on first use and cached, ``shape_mode``
    'dynamic' or 'static'; an ``.onnx`` checkpoint such as ``tools/quantize.py``'s INT8 model runs as is) or 'auto'
    (the fastest correct one for the device, ``mmseg.deploy.backends``). ``precision``: 'fp32', 'bf16' (PyTorch
    autocast) or None (fp32, or bf16 where 'auto' measured it faster and accurate).
    ``config`` may also be a model folder written by ``tools/export_hub.py`` or an ``hf-hub:owner/name`` id
    (then ``checkpoint`` is the folder's weights), or a model zoo name such as ``'segnext_mscan-t_ade20k'``
    (``tools/zoo.py list``; config and weights from the zoo); ``checkpoint`` may be a zoo name too.
    """
    from ..deploy.backends import check_backend, finalize, is_onnx_file
    from ..models.zoo import resolve
    from .hub import resolve_pretrained
    config, checkpoint = resolve(config, checkpoint)  # model zoo names (mmseg.models.zoo) and URLs -> local files
    found = resolve_pretrained(config) if checkpoint is None else None
    if found:
        config, checkpoint = found
    from ..engine import revert_sync_batchnorm
    from ..models import build_segmentor, load_checkpoint
    check_backend(backend, device, checkpoint, precision)
    onnx_file = str(checkpoint) if is_onnx_file(checkpoint) else None
    if onnx_file is not None:
        checkpoint = None  # the graph holds the weights; the PyTorch model only supplies the config's attributes
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
    return finalize(model, backend, device, fuse, onnx_file, shape_mode, precision)


def as_bgr_image(img: Any, what: str = 'inference_segmentor') -> np.ndarray:
    """An H×W×3 BGR uint8 array from a path, a PIL image (any mode, converted from RGB) or an H×W×3 BGR uint8
    array; anything else, or an empty image, raises naming what was passed."""
    if isinstance(img, (str, os.PathLike)):
        from ..datasets.pipelines.loading import imread_bgr
        return imread_bgr(os.fspath(img))
    try:
        from PIL import Image
    except ImportError:  # pillow is a dependency; guard only the isinstance check
        Image = None
    if Image is not None and isinstance(img, Image.Image):
        if img.width == 0 or img.height == 0:
            raise ValueError(f'{what}: the PIL image is empty ({img.width}x{img.height})')
        return np.ascontiguousarray(np.asarray(img.convert('RGB'))[..., ::-1])  # PIL is RGB; the model wants BGR
    if isinstance(img, torch.Tensor):
        raise TypeError(f'{what}: got a torch.Tensor {tuple(img.shape)}; pass an H×W×3 BGR uint8 numpy array '
                        f'(e.g. tensor.permute(1, 2, 0).numpy() for a C×H×W image), a PIL image or a file path')
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{what}: expected an image path, a PIL image or an H×W×3 BGR uint8 numpy array, got '
                        f'{type(img).__name__}')
    if img.size == 0:
        raise ValueError(f'{what}: the image is empty (shape {img.shape})')
    if img.dtype != np.uint8:
        raise ValueError(f'{what}: expected an H×W×3 uint8 BGR image (0..255), got {img.dtype} {img.shape}'
                         + ('; scale floats with (img * 255).round().astype(np.uint8)' if img.dtype.kind == 'f'
                            else ''))
    if img.ndim != 3 or img.shape[2] != 3:
        hint = {2: '; for a grayscale image use cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)',
                4: '; pass several images as a list'}.get(img.ndim, '')
        if img.ndim == 3 and img.shape[2] == 4:
            hint = '; drop the alpha channel with img[..., :3]'
        raise ValueError(f'{what}: expected an H×W×3 uint8 BGR image, got shape {img.shape}{hint}')
    return img


class LoadImage:
    """First pipeline step for a path, a PIL image or an in-memory BGR image (what ``LoadImageFromFile`` would
    set)."""

    def __call__(self, results: Dict) -> Dict:
        img = results['img']
        name = os.fspath(img) if isinstance(img, (str, os.PathLike)) else None
        results['filename'] = results['ori_filename'] = name
        img = as_bgr_image(img)
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
    param = next(model.parameters(), None)  # the onnxruntime segmentor has none: it runs on the CPU
    return param.device if param is not None else torch.device('cpu')


@torch.inference_mode()
def inference_segmentor(model: nn.Module, imgs: Union[ImageLike, Sequence[ImageLike]],
                        batch_size: int = 1) -> List[np.ndarray]:
    """Segment image paths or BGR uint8 arrays; returns one H×W int64 class map per image at its own size.

    ``batch_size`` > 1 runs up to that many images per forward; only images with the same network input and
    original size share one (padding or a shared rescale would change their labels), so the output equals
    image-by-image inference.
    """
    from ..datasets import collate
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'batch_size must be an int >= 1, got {batch_size!r}')
    pipeline = getattr(model, '_test_pipeline', None)
    if pipeline is None:  # built once per model: a video calls this for every frame
        pipeline = model._test_pipeline = build_test_pipeline(model.cfg)
    device = _device_of(model)
    items = imgs if isinstance(imgs, (list, tuple)) else [imgs]
    results: List[Optional[np.ndarray]] = [None] * len(items)
    for start in range(0, len(items), batch_size):
        groups: Dict[Tuple, List[Tuple[int, Dict]]] = {}
        for i in range(start, min(start + batch_size, len(items))):
            sample = pipeline(dict(img=items[i]))
            key = (tuple(tuple(t.shape) for t in sample['img']), tuple(sample['img_metas'][0]['ori_shape']))
            groups.setdefault(key, []).append((i, sample))
        for members in groups.values():
            data = collate([sample for _, sample in members])
            data['img'] = [t.to(device) for t in data['img']]
            for (i, _), seg in zip(members, model(return_loss=False, rescale=True, **data)):
                results[i] = seg
    return results


IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def check_image_out_file(path: str, what: str = 'out_file') -> None:
    """Raise naming ``path`` when OpenCV cannot write its extension or its folder cannot be created/written, so a
    tool can refuse it before inference instead of failing in ``cv2.imwrite`` afterwards."""
    import cv2
    if not cv2.haveImageWriter(path):
        raise ValueError(f'{what} {path!r}: no image writer for the extension '
                         f'{osp.splitext(path)[1] or "(none)"}; use one of {", ".join(IMAGE_EXTENSIONS)}')
    parent = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise ValueError(f'{what} {path!r}: cannot create the folder {parent}: {e.strerror or e}') from e
    if not os.access(parent, os.W_OK):
        raise ValueError(f'{what} {path!r}: the folder {parent} is not writable')


def _read_bgr(img: ImageLike) -> np.ndarray:
    return as_bgr_image(img, 'show_result')


def show_result(img: ImageLike, result: Union[np.ndarray, Sequence[np.ndarray]],
                palette: Sequence[Sequence[int]], class_names: Optional[Sequence[str]] = None,
                out_file: Optional[str] = None, opacity: float = 0.5, legend: bool = True) -> np.ndarray:
    """Blend the class map over the image (``(1 − opacity)·img + opacity·palette[class]``), with a legend of
    the classes present when ``class_names`` is given; write to ``out_file`` if given. Returns BGR uint8."""
    import cv2
    from ..core.visualization import draw_overlay
    seg = result[0] if isinstance(result, (list, tuple)) else result
    if out_file is not None:
        check_image_out_file(out_file)
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
