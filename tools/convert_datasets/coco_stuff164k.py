"""COCO-Stuff 164k: raw label PNGs (ids 0..181, 255) → ``*_labelTrainIds.png`` with trainIds 0..170.

Layout read: ``SRC/annotations/{train2017,val2017}/*.png``; written:
``OUT/annotations/<split>/<name>_labelTrainIds.png``
(``OUT`` defaults to ``SRC``). Usage: ``python tools/convert_datasets/coco_stuff164k.py SRC [-o OUT] [--nproc N]``.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from typing import Iterable, List, Optional

import numpy as np
from PIL import Image

from mmseg.utils import get_root_logger
from mmseg.utils.progress import progress_map

SPLITS = ('train2017', 'val2017')
NUM_RAW_IDS = 182
# raw ids the 164k release never uses (COCO thing ids dropped from the 2017 detection set, 0-based)
UNUSED_RAW_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
TRAIN_ID_SUFFIX = '_labelTrainIds.png'


def raw_to_train_id() -> dict:
    """``{raw_id: train_id}``: the 171 used raw ids, renumbered 0..170 in increasing order."""
    used = [i for i in range(NUM_RAW_IDS) if i not in UNUSED_RAW_IDS]
    return {raw: train for train, raw in enumerate(used)}


def lookup_table() -> np.ndarray:
    """uint8[256] map from raw id to trainId; everything unmapped (unused ids, 182..255) → 255."""
    lut = np.full(256, 255, dtype=np.uint8)
    for raw, train in raw_to_train_id().items():
        lut[raw] = train
    return lut


def convert_label(src: str, dst: str) -> int:
    """Write the trainId map of one raw label file; returns the count of pixels with an unknown raw id."""
    try:
        raw = np.array(Image.open(src))
    except OSError as e:
        raise RuntimeError(f'cannot read COCO-Stuff label {src}: {e}') from e
    if raw.ndim != 2 or raw.dtype != np.uint8:
        raise RuntimeError(f'COCO-Stuff label {src} must be a single-channel 8-bit PNG, got {raw.dtype} {raw.shape}')
    unknown = int(np.count_nonzero((raw >= NUM_RAW_IDS) & (raw != 255)))
    Image.fromarray(lookup_table()[raw]).save(dst)
    return unknown


def _convert_pair(pair: tuple) -> int:
    return convert_label(*pair)


def find_pairs(src_root: str, out_root: str) -> List[tuple]:
    """(raw label, output) paths for every split present under ``src_root/annotations``."""
    ann_root = osp.join(src_root, 'annotations')
    if not osp.isdir(ann_root):
        raise FileNotFoundError(f'COCO-Stuff annotation directory not found: {ann_root}')
    pairs = []
    for split in SPLITS:
        split_dir = osp.join(ann_root, split)
        if not osp.isdir(split_dir):
            continue
        os.makedirs(osp.join(out_root, 'annotations', split), exist_ok=True)
        for src in sorted(glob.glob(osp.join(split_dir, '*.png'))):
            if src.endswith(TRAIN_ID_SUFFIX):  # output of an earlier run
                continue
            name = osp.splitext(osp.basename(src))[0]
            pairs.append((src, osp.join(out_root, 'annotations', split, name + TRAIN_ID_SUFFIX)))
    if not pairs:
        raise FileNotFoundError(f'no label PNGs under {ann_root}/{{{",".join(SPLITS)}}}')
    return pairs


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert COCO-Stuff 164k labels to trainIds')
    parser.add_argument('coco_path', help='COCO-Stuff root (contains annotations/)')
    parser.add_argument('-o', '--out-dir', help='output root (default: coco_path)')
    parser.add_argument('--nproc', default=1, type=int, help='number of worker processes')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    out_root = args.out_dir or args.coco_path
    pairs = find_pairs(args.coco_path, out_root)
    unknown = sum(progress_map(_convert_pair, pairs, args.nproc, desc='COCO-Stuff labels'))
    logger = get_root_logger()
    logger.info(f'converted {len(pairs)} COCO-Stuff labels into {out_root}/annotations')
    if unknown:
        logger.warning(f'{unknown} pixels had raw ids outside 0..181 and were set to 255')
    return 0


if __name__ == '__main__':
    sys.exit(main())
