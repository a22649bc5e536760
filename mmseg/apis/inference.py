"""High-level inference: build a segmentor from a config (+ checkpoint), predict images, draw overlays.

``init_segmentor`` → ``inference_segmentor`` → ``show_result`` is the MMSegmentation 0.24.1 API, kept as thin
wrappers over :class:`~mmseg.apis.segmenter.Segmenter` and :func:`~mmseg.apis.builder.build_inference_model`;
every image runs through the config's test pipeline and predictions come back at the original image size.
"""
import os
import os.path as osp
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..utils import Config, get_root_logger
from .builder import classes_and_palette, default_palette, load_config  # noqa: F401
from .segmenter import ImageLike, LoadImage, Segmenter, as_bgr_image, build_test_pipeline  # noqa: F401


def init_segmentor(config: Union[str, Config], checkpoint: Optional[str] = None,
                   device: Union[str, torch.device] = 'cpu', cfg_options: Optional[Dict] = None,
                   fuse: bool = True, backend: str = 'pytorch', shape_mode: str = 'dynamic',
                   precision: Optional[str] = None) -> nn.Module:
    """MMSegmentation 0.24.1's entry point: :meth:`Segmenter.from_config` (the arguments of
    :func:`~mmseg.apis.builder.build_inference_model`), returning the model with the 0.x attributes ``cfg``,
    ``CLASSES`` and ``PALETTE`` set for code that reads them. ``backend``: 'pytorch', 'compiled', 'onnxruntime',
    'openvino' or 'auto' (measured once per machine, model and input size); ``precision``: 'fp32', 'bf16' or None.
    """
    seg = Segmenter.from_config(config, checkpoint, device, backend, precision, fuse, cfg_options, shape_mode)
    model = seg.model
    model.cfg, model.CLASSES, model.PALETTE = seg.cfg, seg.classes, seg.palette
    _SEGMENTERS[model] = seg
    return model


# init_segmentor's model -> its Segmenter (the test pipeline is built once per model, not once per call)
_SEGMENTERS: 'weakref.WeakKeyDictionary[nn.Module, Segmenter]' = weakref.WeakKeyDictionary()


def segmenter_of(model: Union[nn.Module, Segmenter]) -> Segmenter:
    """The :class:`Segmenter` of an ``init_segmentor`` model (or of any segmentor with a ``cfg``)."""
    if isinstance(model, Segmenter):
        return model
    seg = _SEGMENTERS.get(model)
    if seg is None:
        cfg = getattr(model, 'cfg', None)
        if cfg is None:
            raise ValueError('inference_segmentor: the model has no cfg; build it with init_segmentor or '
                             'Segmenter.from_config')
        classes, palette = classes_and_palette(cfg, model.num_classes, getattr(model, 'checkpoint_meta', None))
        seg = _SEGMENTERS[model] = Segmenter(model, cfg, getattr(model, 'CLASSES', classes),
                                             getattr(model, 'PALETTE', palette))
    return seg


def inference_segmentor(model: Union[nn.Module, Segmenter], imgs: Union[ImageLike, Sequence[ImageLike]],
                        batch_size: int = 1) -> List[np.ndarray]:
    """Segment image paths, BGR uint8 arrays or PIL images; one H×W int64 class map per image at its own size
    (:meth:`Segmenter.__call__`)."""
    return segmenter_of(model)(imgs, batch_size)


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
    drawn = draw_overlay(as_bgr_image(img, 'show_result'), np.asarray(seg), palette, opacity=opacity,
                         class_names=class_names, legend=legend)
    if out_file is not None:  # check_image_out_file made the folder
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
