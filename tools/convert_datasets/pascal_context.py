"""Pascal Context: raw 459-class label maps → 60-class ``SegmentationClassContext/*.png`` (0 = background).

The 60 classes are raw id 0 (background) plus 59 selected raw ids, renumbered 0..59 in increasing raw-id order;
every other raw id becomes background (0). The Detail API is not installable, so the raw maps are read from
``.mat`` files with a ``LabelMap`` array (the public ``trainval`` release) or from 8/16-bit ``.png`` raw-id maps.

Usage: ``python tools/convert_datasets/pascal_context.py SRC [-o OUT] [--nproc N]``; ``OUT`` defaults to
``SegmentationClassContext`` next to ``SRC``.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from typing import Iterable, List, Optional, Tuple

import numpy as np
from PIL import Image

from mmseg.utils import get_root_logger
from mmseg.utils.progress import progress_map

NUM_RAW_IDS = 460  # 0 plus the 459 annotated categories
SELECTED_RAW_IDS = tuple(sorted((
    0, 2, 259, 260, 415, 324, 9, 258, 144, 18, 19, 22, 23, 397, 25, 284, 158, 159, 416, 33, 162, 420, 454, 295, 296,
    427, 44, 45, 46, 308, 59, 440, 445, 31, 232, 65, 354, 424, 68, 326, 72, 458, 34, 207, 80, 355, 85, 347, 220, 349,
    360, 98, 187, 104, 105, 366, 189, 368, 113, 115)))


def lookup_table() -> np.ndarray:
    """uint8[460] map from raw id to the 60-class index (unselected ids → 0)."""
    lut = np.zeros(NUM_RAW_IDS, dtype=np.uint8)
    for new_id, raw_id in enumerate(SELECTED_RAW_IDS):
        lut[raw_id] = new_id
    return lut


def read_raw_label(path: str) -> np.ndarray:
    """Integer [H, W] raw-id map from a ``.mat`` (key ``LabelMap``) or ``.png`` file."""
    try:
        if path.endswith('.mat'):
            from scipy.io import loadmat
            mat = loadmat(path)
            if 'LabelMap' not in mat:
                raise KeyError(f"no 'LabelMap' array (keys: {sorted(k for k in mat if not k.startswith('__'))})")
            label = mat['LabelMap']
        else:
            label = np.array(Image.open(path))
    except Exception as e:  # scipy / PIL raise assorted types for damaged files
        raise RuntimeError(f'cannot read Pascal Context label {path}: {e}') from e
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        raise RuntimeError(f'Pascal Context label {path} must be a 2-D integer map, got {label.dtype} {label.shape}')
    return label.astype(np.int64)


def convert_label(src: str, dst: str) -> None:
    raw = read_raw_label(src)
    bad = raw[(raw < 0) | (raw >= NUM_RAW_IDS)]
    if bad.size:
        raise RuntimeError(f'Pascal Context label {src} has raw id {int(bad[0])} outside 0..{NUM_RAW_IDS - 1}')
    Image.fromarray(lookup_table()[raw]).save(dst)


def _convert_pair(pair: Tuple[str, str]) -> None:
    convert_label(*pair)


def find_pairs(src_dir: str, out_dir: str) -> List[Tuple[str, str]]:
    if not osp.isdir(src_dir):
        raise FileNotFoundError(f'Pascal Context raw label directory not found: {src_dir}')
    srcs = sorted(glob.glob(osp.join(src_dir, '*.mat')) + glob.glob(osp.join(src_dir, '*.png')))
    if not srcs:
        raise FileNotFoundError(f'no .mat or .png raw label maps in {src_dir}')
    names = [osp.splitext(osp.basename(s))[0] for s in srcs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RuntimeError(f'{src_dir} holds both a .mat and a .png for: {dup[:5]}')
    return [(s, osp.join(out_dir, n + '.png')) for s, n in zip(srcs, names)]


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert Pascal Context raw labels to the 60-class setting')
    parser.add_argument('src_dir', help='directory of raw label maps (.mat with LabelMap, or .png raw ids)')
    parser.add_argument('-o', '--out-dir', help='output directory (default: SegmentationClassContext beside src_dir)')
    parser.add_argument('--nproc', default=1, type=int, help='number of worker processes')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    src_dir = osp.normpath(args.src_dir)
    out_dir = args.out_dir or osp.join(osp.dirname(src_dir), 'SegmentationClassContext')
    pairs = find_pairs(src_dir, out_dir)
    os.makedirs(out_dir, exist_ok=True)
    progress_map(_convert_pair, pairs, args.nproc, desc='Pascal Context labels')
    get_root_logger().info(f'converted {len(pairs)} Pascal Context labels into {out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
