"""Read images (cv2, BGR) and label maps (pillow, unchanged mode) from disk."""
import io
import os.path as osp
from typing import Optional

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


def label_to_array(im: Image.Image, filename: str) -> np.ndarray:
    """Pixel values of an opened label image as H×W uint8 (8-bit files) or uint16 (16-bit files).

    Palette PNGs give their indices (not colours). Anything with more than one channel, float pixels or values
    outside 0..65535 is refused naming the file: such a map would otherwise be scored or trained on silently wrong.
    """
    if im.mode in ('F', 'RGB', 'RGBA', 'RGBX', 'LA', 'PA', 'La', 'CMYK', 'YCbCr', 'LAB', 'HSV'):
        bands = len(im.getbands())
        if bands > 1:
            arr = np.array(im)
            same = arr.ndim == 3 and bool((arr == arr[..., :1]).all())
            raise ValueError(
                f'label file {filename} has {bands} channels (mode {im.mode}); a label must be one channel of '
                f'class indices (8- or 16-bit grayscale or palette PNG). '
                + ('Its channels are identical: save one of them, e.g. Image.open(f).convert("L").save(f).'
                   if same else 'If it is a colour-coded mask, map each colour to its class index first.'))
        raise ValueError(f'label file {filename} holds floating-point pixels (mode {im.mode}); a label must hold '
                         f'integer class indices (8- or 16-bit PNG)')
    arr = np.array(im)
    if arr.ndim == 3 and arr.shape[2] == 1:  # only a channel axis is dropped, so 1-pixel-high maps keep 2 dims
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f'label file {filename} has shape {arr.shape}; a label must be a single-channel H×W map')
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if arr.dtype.kind not in 'iu':
        raise ValueError(f'label file {filename} holds {arr.dtype} pixels; a label must hold integer class indices')
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
        bad = int(arr.min()) if int(arr.min()) < 0 else int(arr.max())
        raise ValueError(f'label file {filename} has value {bad}; label values must be in 0..65535 (16-bit)')
    return arr.astype(np.uint16, copy=False)


def read_label(filename: str) -> np.ndarray:
    """Read a label map with pillow in unchanged mode (palette PNG → indices).

    Returns H×W uint8 for 8-bit files (as MMSegmentation 0.24.1) and uint16 for 16-bit files, so values ≥ 256
    keep their value instead of wrapping.
    """
    data = _read_bytes(filename, 'label')
    _check_complete(data, filename, 'label')
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return label_to_array(im, filename)
    except ValueError:
        raise
    except Exception as e:  # pillow raises several exception types for broken files
        raise OSError(f'cannot decode label file {filename}: {e}') from e


def reduce_zero_label(gt: np.ndarray) -> np.ndarray:
    """0 → 255 and v → v − 1, 255 stays 255 (MMSegmentation 0.24.1; same values for 8- and 16-bit maps)."""
    gt = gt.copy()
    gt[gt == 0] = 255
    gt = gt - 1
    gt[gt == 254] = 255
    return gt


def _check_io_args(owner: str, file_client_args: Optional[dict], imdecode_backend: str, decoder: str) -> None:
    """0.24.1's ``file_client_args``/``imdecode_backend``: accepted with the values this loader implements (local
    files; images decoded by cv2, labels by pillow, 0.24.1's defaults)."""
    if file_client_args is not None and dict(file_client_args) != dict(backend='disk'):
        raise ValueError(f"{owner}: file_client_args={file_client_args!r}: only local files are read "
                         f"(file_client_args=dict(backend='disk') or leave it out)")
    if imdecode_backend != decoder:
        raise ValueError(f"{owner}: imdecode_backend='{imdecode_backend}' is not available; files are decoded with "
                         f"{decoder} (imdecode_backend='{decoder}', 0.24.1's default, or leave it out)")


@TRANSFORMS.register_module()
class LoadImageFromFile:
    """Load ``img_prefix/img_info['filename']``.

    Sets img, filename, ori_filename, ori/img/pad_shape, scale_factor (1.0) and an identity img_norm_cfg.
    """

    def __init__(self, to_float32: bool = False, color_type: str = 'color', file_client_args: Optional[dict] = None,
                 imdecode_backend: str = 'cv2'):
        _check_io_args('LoadImageFromFile', file_client_args, imdecode_backend, 'cv2')
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
        # 0.24.1's exact format (no spaces); images are always decoded with cv2.
        return (f"{self.__class__.__name__}(to_float32={self.to_float32},color_type='{self.color_type}',"
                "imdecode_backend='cv2')")


@TRANSFORMS.register_module()
class LoadAnnotations:
    """Load ``seg_prefix/ann_info['seg_map']`` into ``gt_semantic_seg`` (H×W uint8, uint16 for 16-bit PNGs).

    ``reduce_zero_label`` maps 0 → 255 and v → v − 1 (so 255 stays 255). ``results['label_map']`` (custom class
    subsets) is applied first. When the dataset puts ``num_classes`` in ``results``, labels outside
    ``[0, num_classes) ∪ {ignore_index}`` raise, and a label whose size differs from ``img`` raises naming both files.
    """

    def __init__(self, reduce_zero_label: bool = False, file_client_args: Optional[dict] = None,
                 imdecode_backend: str = 'pillow'):
        _check_io_args('LoadAnnotations', file_client_args, imdecode_backend, 'pillow')
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
            gt = reduce_zero_label(gt)
        num_classes = results.get('num_classes')
        if num_classes is not None:
            ignore = results.get('ignore_index', 255)
            bad = gt[(gt >= num_classes) & (gt != ignore)]
            if bad.size:
                raise ValueError(f'label file {filename} has value {int(bad.max())} but the dataset has '
                                 f'{num_classes} classes (valid: 0..{num_classes - 1} and {ignore})'
                                 + (' after reduce_zero_label' if self.reduce_zero_label else '')
                                 + '; run tools/check_dataset.py CONFIG to list every such file')
        img = results.get('img')
        if img is not None and img.shape[:2] != gt.shape[:2]:
            raise ValueError(f'image {results.get("filename")} has size {img.shape[:2]} but label {filename} '
                             f'has size {gt.shape[:2]}')
        results['gt_semantic_seg'] = gt
        results.setdefault('seg_fields', []).append('gt_semantic_seg')
        return results

    def __repr__(self) -> str:
        # 0.24.1's exact format (no space); labels are always decoded with pillow.
        return f"{self.__class__.__name__}(reduce_zero_label={self.reduce_zero_label},imdecode_backend='pillow')"
