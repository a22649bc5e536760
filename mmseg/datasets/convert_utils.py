"""Shared pieces of the dataset converters in ``tools/convert_datasets``: archive checks, decoding archive members,
writing PNGs, a progress bar, and the ISPRS tiling and colour legend (mmseg 0.24.1 semantics)."""
import argparse
import gzip
import io
import math
import os
import os.path as osp
import tarfile
import zipfile
from typing import Iterable, List, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

Archive = Union[zipfile.ZipFile, tarfile.TarFile]


class ArchiveError(ValueError):
    """An input archive is missing, unreadable or does not hold the expected files."""


def open_archive(path: str, expected: str) -> Archive:
    """Open a zip or tar file; ``expected`` describes what it should be (used in the error messages)."""
    if not osp.isfile(path):
        raise ArchiveError(f'{path} not found; expected {expected}')
    if zipfile.is_zipfile(path):
        return zipfile.ZipFile(path)
    if tarfile.is_tarfile(path):
        return tarfile.open(path)
    raise ArchiveError(f'{path} is neither a zip nor a tar archive; expected {expected}')


def member_names(archive: Archive) -> List[str]:
    """Names of the regular files in the archive."""
    if isinstance(archive, zipfile.ZipFile):
        return [n for n in archive.namelist() if not n.endswith('/')]
    return [m.name for m in archive.getmembers() if m.isfile()]


def read_member(archive: Archive, name: str) -> bytes:
    if isinstance(archive, zipfile.ZipFile):
        return archive.read(name)
    f = archive.extractfile(name)
    if f is None:
        raise ArchiveError(f'{name} in {archive.name} is not a regular file')
    return f.read()


def decode_bgr(data: bytes, name: str) -> np.ndarray:
    """Decode image bytes as 3-channel BGR uint8, as ``mmcv.imread`` does (``.gz`` is gunzipped first, GIF read
    with pillow since cv2 cannot)."""
    if name.endswith('.gz'):
        data, name = gzip.decompress(data), name[:-3]
    if name.lower().endswith('.gif'):
        with Image.open(io.BytesIO(data)) as im:
            return np.ascontiguousarray(np.array(im.convert('RGB'))[..., ::-1])
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ArchiveError(f'cannot decode image {name}')
    return img


def vessel_label(bgr: np.ndarray) -> np.ndarray:
    """Binary vessel map: first (blue) channel // 128, i.e. 1 where it is >= 128 (0.24.1's threshold)."""
    return (bgr[:, :, 0] // 128).astype(np.uint8)


def write_png(path: str, array: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if not cv2.imwrite(path, array):
        raise OSError(f'cannot write {path}')


def progress(items: Sequence, desc: str) -> Iterable:
    """``items`` with a tqdm bar on a terminal, a progress line with ETA every 30 s otherwise."""
    from ..utils.progress import progress_iter
    return progress_iter(items, desc)


def parse_isprs_args(name: str, holds: str, out_dir: str, argv=None) -> argparse.Namespace:
    """The 0.24.1 command line of the ISPRS converters (Potsdam, Vaihingen), validated."""
    parser = argparse.ArgumentParser(description=f'Convert ISPRS {name} to the mmseg layout')
    parser.add_argument('dataset_path', help=f'folder holding {holds}')
    parser.add_argument('--tmp_dir', help='accepted for compatibility; archives are read without extracting')
    parser.add_argument('-o', '--out_dir', default=out_dir, help='output root')
    parser.add_argument('--clip_size', type=int, default=512, help='patch size')
    parser.add_argument('--stride_size', type=int, default=256, help='0.24.1 stride (sets the patch count)')
    args = parser.parse_args(argv)
    if args.clip_size <= 0 or args.stride_size <= 0:
        parser.error('--clip_size and --stride_size must be positive')
    return args


def convert_isprs_tiles(archive: Archive, tiles: Sequence[str], tile_key, train: set, args: argparse.Namespace,
                        to_label: bool, desc: str) -> int:
    """Clip each tile into patches under ``img_dir``/``ann_dir`` and ``train``/``val`` (0.24.1: every tile whose key
    is not in the train list is validation); returns the number of label pixels outside the legend."""
    unknown = 0
    for name in progress(sorted(tiles), desc):
        key = tile_key(name)
        out = osp.join(args.out_dir, 'ann_dir' if to_label else 'img_dir', 'train' if key in train else 'val')
        unknown += clip_isprs_tile(decode_bgr(read_member(archive, name), name), name, key, out, args.clip_size,
                                   args.stride_size, to_label)
    return unknown


def report_isprs(name: str, out_dir: str, unknown: int) -> None:
    from ..utils import get_root_logger
    logger = get_root_logger()
    logger.info(f'{name} patches written to {out_dir}/img_dir and {out_dir}/ann_dir')
    if unknown:
        logger.warning(f'{unknown} label pixels had a colour outside the ISPRS legend and were set to 0 (ignored)')


# ISPRS legend (RGB) → label: 0 = boundary or any other colour (ignored via reduce_zero_label), then the classes
# impervious surface, building, low vegetation, tree, car, clutter (PotsdamDataset/ISPRSDataset order).
ISPRS_LEGEND_RGB = ((0, 0, 0), (255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0))


def isprs_colour_to_label(bgr: np.ndarray) -> Tuple[np.ndarray, int]:
    """uint8 H×W×3 BGR colour label → (H×W label 0..6, count of pixels with a colour outside the legend → 0)."""
    code = (bgr[..., 2].astype(np.int32) << 16) | (bgr[..., 1].astype(np.int32) << 8) | bgr[..., 0]
    out = np.zeros(code.shape, np.uint8)
    known = np.zeros(code.shape, bool)
    for idx, (r, g, b) in enumerate(ISPRS_LEGEND_RGB):
        hit = code == ((r << 16) | (g << 8) | b)
        out[hit] = idx
        known |= hit
    return out, int((~known).sum())


def isprs_boxes(h: int, w: int, clip_size: int, stride_size: int) -> List[Tuple[int, int, int, int]]:
    """0.24.1's patch boxes ``(x1, y1, x2, y2)``, duplicates removed, in its row-major order.

    The number of rows/columns comes from ``stride_size``, but the boxes start at multiples of ``clip_size`` and
    the ones running past the border are moved back to end at it; so with the defaults (512, 256) the patches do
    not overlap (a 6000-pixel side gives 0, 512, ..., 5120 and 5488), which is what the published Potsdam and
    Vaihingen patch sets are made of.
    """
    def count(length: int) -> int:
        n = math.ceil((length - clip_size) / stride_size)
        return n if n * stride_size + clip_size >= length else n + 1

    boxes, seen = [], set()
    for row in range(count(h) + 1):
        for col in range(count(w) + 1):
            x1, y1 = col * clip_size, row * clip_size
            x1 = x1 + (w - x1 - clip_size if x1 + clip_size > w else 0)
            y1 = y1 + (h - y1 - clip_size if y1 + clip_size > h else 0)
            box = (x1, y1, min(col * clip_size + clip_size, w), min(row * clip_size + clip_size, h))
            if box not in seen:
                seen.add(box)
                boxes.append(box)
    return boxes


def clip_isprs_tile(bgr: np.ndarray, source: str, prefix: str, out_dir: str, clip_size: int, stride_size: int,
                    to_label: bool) -> int:
    """Write the patches of one tile as ``<prefix>_<x1>_<y1>_<x2>_<y2>.png`` (colour image as is, or the label
    0..6 of :func:`isprs_colour_to_label`); returns the number of label pixels with a colour outside the legend."""
    h, w = bgr.shape[:2]
    if h < clip_size or w < clip_size:
        raise ArchiveError(f'{source} is {w}×{h}, smaller than --clip_size {clip_size}')
    unknown = 0
    if to_label:
        bgr, unknown = isprs_colour_to_label(bgr)
    for x1, y1, x2, y2 in isprs_boxes(h, w, clip_size, stride_size):
        write_png(osp.join(out_dir, f'{prefix}_{x1}_{y1}_{x2}_{y2}.png'), bgr[y1:y2, x1:x2])
    return unknown
