"""A small predictor: the model, its test pipeline, class names and palette, and ``__call__(images)``.

    seg = Segmenter.from_config('local_configs/.../segnext.tiny.512x512.ade.160k.py', 'segnext_t_ade.pth',
                                backend='auto')
    labels = seg(['a.jpg', 'b.jpg'], batch_size=2)      # one H×W int64 class map per image, at its own size

Everything ``init_segmentor`` used to set on the model (``cfg``, ``CLASSES``, ``PALETTE``, the cached test
pipeline) lives here; the model is the plain segmentor that :func:`mmseg.apis.builder.build_inference_model` made.
"""
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..utils import Config
from ..datasets.builder import leaf_dataset_cfg
from .builder import build_inference_model, classes_and_palette, load_config, resolve_checkpoint

ImageLike = Union[str, np.ndarray, 'PIL.Image.Image']  # noqa: F821 (pillow is imported lazily)


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
    ds = leaf_dataset_cfg(cfg, 'test')
    if ds is None or not ds.get('pipeline'):
        raise KeyError(f"config {getattr(cfg, 'filename', '')}: no data.test.pipeline to run inference with")
    steps = [dict(s) for s in ds['pipeline']]
    if steps and steps[0].get('type') == 'LoadImageFromFile':
        steps = steps[1:]
    return Compose([LoadImage()] + steps)


def model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


class Segmenter:
    """``model`` (an eval-mode segmentor), the config it was built from, class names and RGB palette.

    ``__call__`` runs images through the config's test pipeline (built on first use) and returns labels at each
    image's original size.
    """

    def __init__(self, model: nn.Module, cfg: Config, classes: Sequence[str], palette: Sequence[Sequence[int]]):
        self.model, self.cfg = model, cfg
        self.classes, self.palette = list(classes), [list(map(int, c)) for c in palette]
        self._pipeline = None

    @classmethod
    def from_config(cls, config: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None,
                    device: Union[None, str, torch.device] = 'cpu', backend: str = 'pytorch',
                    precision: Optional[str] = None, fuse: bool = True, cfg_options: Optional[Dict] = None,
                    shape_mode: str = 'dynamic', threads: Optional[int] = None) -> 'Segmenter':
        """Build through :func:`build_inference_model` (same arguments); classes and palette come from the
        checkpoint's meta, else the config's dataset."""
        config, checkpoint = resolve_checkpoint(config, checkpoint)
        cfg = load_config(config, cfg_options)
        model = build_inference_model(cfg, checkpoint, device, backend, precision, fuse, shape_mode=shape_mode,
                                      threads=threads)
        classes, palette = classes_and_palette(cfg, model.num_classes, model.checkpoint_meta)
        return cls(model, cfg, classes, palette)

    @property
    def pipeline(self):
        if self._pipeline is None:  # built once: a video calls the predictor for every frame
            self._pipeline = build_test_pipeline(self.cfg)
        return self._pipeline

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    @torch.inference_mode()
    def __call__(self, images: Union[ImageLike, Sequence[ImageLike]], batch_size: int = 1) -> List[np.ndarray]:
        """One H×W int64 class map per image (a path, a BGR uint8 array or a PIL image), at its own size.

        ``batch_size`` > 1 runs up to that many images per forward; only images with the same network input and
        original size share one (padding or a shared rescale would change their labels), so the output equals
        image-by-image inference.
        """
        from ..datasets import collate
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'batch_size must be an int >= 1, got {batch_size!r}')
        pipeline, device = self.pipeline, self.device
        items = images if isinstance(images, (list, tuple)) else [images]
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
                for (i, _), seg in zip(members, self.model(return_loss=False, rescale=True, **data)):
                    results[i] = seg
        return results

    def __repr__(self) -> str:
        return (f'Segmenter({type(self.model).__name__}, {len(self.classes)} classes, '
                f'runtime={getattr(self.model, "runtime", None)!r})')
