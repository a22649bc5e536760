"""Read images (cv2, BGR) and label maps (pillow, unchanged mode) from disk."""
import io
import os.path as osp

import cv2
import numpy as np
from PIL import Image

from mmseg.registry import TRANSFORMS


def _read_bytes(filename: str, what: str) -> bytes:
    try:
        with open(filename, 'rb') as f:
            return f.read()
    except OSError as e:
        raise FileNotFoundError(f'cannot read {what} file {filename}: {e.strerror or e}') from e


def _check_complete(data: bytes, filename: str, what: str) -> None:
    """Raise if a JPEG/PNG byte string is cut short (decoders silently fill the missing part)."""
    if data[:2] == b'\xff\xd8':
        # Entropy-coded data never contains 0xFFDA/0xFFD9, so the last scan must be followed by an EOI marker.
        if data.rfind(b'\xff\xd9') < data.rfind(b'\xff\xda'):
            raise OSError(f'{what} file {filename} is a truncated JPEG (no end-of-image marker)')
    elif data[:8] == b'\x89PNG\r\n\x1a\n':
        if b'IEND' not in data[-16:]:
            raise OSError(f'{what} file {filename} is a truncated PNG (no IEND chunk)')


def imread_bgr(filename: str, flag: str = 'color') -> np.ndarray:
    """Read with cv2: H×W×3 BGR uint8 (``'color'``), H×W (``'grayscale'``) or as stored (``'unchanged'``)."""
    data = _read_bytes(filename, 'image')
    if not data:
        raise OSError(f'image file {filename} is empty')
    _check_complete(data, filename, 'image')
    flags = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE, 'unchanged': cv2.IMREAD_UNCHANGED}
    if flag not in flags:
        raise ValueError(f"color_type must be one of {sorted(flags)}, got '{flag}'")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags[flag])
    if img is None:
        raise OSError(f'cannot decode image file {filename}')
    return img


def read_label(filename: str) -> np.ndarray:
    """Read a label map with pillow in unchanged mode (palette PNG → indices); returns uint8."""
    data = _read_bytes(filename, 'label')
    _check_complete(data, filename, 'label')
    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.array(im)
    except Exception as e:  # pillow raises several exception types for broken files
        raise OSError(f'cannot decode label file {filename}: {e}') from e
    if arr.ndim == 3 and arr.shape[2] == 1:  # only a channel axis is dropped, so 1-pixel-high maps keep 2 dims
        arr = arr[..., 0]
    return arr.astype(np.uint8)


@TRANSFORMS.register_module()
class LoadImageFromFile:
    """Load ``img_prefix/img_info['filename']``.

    Sets img, filename, ori_filename, ori/img/pad_shape, scale_factor (1.0) and an identity img_norm_cfg.
    """

    def __init__(self, to_float32: bool = False, color_type: str = 'color'):
        self.to_float32 = to_float32
        self.color_type = color_type

    def __call__(self, results: dict) -> dict:
        name = results['img_info']['filename']
        prefix = results.get('img_prefix')
        filename = osp.join(prefix, name) if prefix is not None else name
        img = imread_bgr(filename, self.color_type)
        if self.to_float32:
            img = img.astype(np.float32)
        results['filename'] = filename
        results['ori_filename'] = name
        results['img'] = img
        results['img_shape'] = img.shape
        results['ori_shape'] = img.shape
        results['pad_shape'] = img.shape
        results['scale_factor'] = 1.0
        channels = 1 if img.ndim < 3 else img.shape[2]
        results['img_norm_cfg'] = dict(mean=np.zeros(channels, np.float32), std=np.ones(channels, np.float32),
                                       to_rgb=False)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(to_float32={self.to_float32}, color_type={self.color_type!r})'


@TRANSFORMS.register_module()
class LoadAnnotations:
    """Load ``seg_prefix/ann_info['seg_map']`` into ``gt_semantic_seg`` (H×W uint8).

    ``reduce_zero_label`` maps 0 → 255 and v → v − 1 (so 255 stays 255). ``results['label_map']`` (custom class
    subsets) is applied first. When the dataset puts ``num_classes`` in ``results``, labels outside
    ``[0, num_classes) ∪ {ignore_index}`` raise, and a label whose size differs from ``img`` raises naming both files.
    """

    def __init__(self, reduce_zero_label: bool = False):
        self.reduce_zero_label = reduce_zero_label

    def __call__(self, results: dict) -> dict:
        name = results['ann_info']['seg_map']
        prefix = results.get('seg_prefix')
        filename = osp.join(prefix, name) if prefix is not None else name
        gt = read_label(filename)
        label_map = results.get('label_map')
        if label_map:
            src = gt.copy()
            for old, new in label_map.items():
                gt[src == old] = 255 if new < 0 else new  # -1 marks a class dropped from the subset
        if self.reduce_zero_label:
            gt[gt == 0] = 255
            gt = gt - 1  # uint8 wrap: 255 → 254, then mapped back to 255
            gt[gt == 254] = 255
        num_classes = results.get('num_classes')
        if num_classes is not None:
            ignore = results.get('ignore_index', 255)
            bad = gt[(gt >= num_classes) & (gt != ignore)]
            if bad.size:
                raise ValueError(f'label file {filename} has value {int(bad.max())} but the dataset has '
                                 f'{num_classes} classes (valid: 0..{num_classes - 1} and {ignore})'
                                 + (' after reduce_zero_label' if self.reduce_zero_label else ''))
        img = results.get('img')
        if img is not None and img.shape[:2] != gt.shape[:2]:
            raise ValueError(f'image {results.get("filename")} has size {img.shape[:2]} but label {filename} '
                             f'has size {gt.shape[:2]}')
        results['gt_semantic_seg'] = gt
        results.setdefault('seg_fields', []).append('gt_semantic_seg')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(reduce_zero_label={self.reduce_zero_label})'
