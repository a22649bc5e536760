"""iSAID: RGB colour masks → class indices 0..15, and slide-crop images and labels into square patches.

Layout read (the extracted release): ``SRC/<split>/images/<P-id>.png`` and, for train/val,
``SRC/<split>/Semantic_masks/images/<P-id>_instance_color_RGB.png``. Written:
``OUT/img_dir/<split>/<P-id>_<y1>_<y2>_<x1>_<x2>.png`` and
``OUT/ann_dir/<split>/<P-id>_<y1>_<y2>_<x1>_<x2>_instance_color_RGB.png`` (an index map despite the suffix).
Patches are ``patch_size`` square with ``overlap`` pixels shared between neighbours (896 / 384 → stride 512); the
last window of a row/column is shifted back to end at the border; images smaller than a patch are padded at the
bottom/right with 0 (images) and 255 (labels). Colours not in the palette become 255 and are counted.

Usage: ``python tools/convert_datasets/isaid.py SRC [-o OUT] [--patch-size 896] [--overlap 384] [--nproc N]``.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from functools import partial
from typing import Iterable, List, Optional, Tuple

import numpy as np
from PIL import Image

from mmseg.utils import get_root_logger
from mmseg.utils.progress import progress_map

SPLITS = ('train', 'val', 'test')
LABEL_SUFFIX = '_instance_color_RGB.png'
# RGB colour of classes 0..15: background, ship, storage_tank, baseball_diamond, tennis_court, basketball_court,
# ground_track_field, bridge, large_vehicle, small_vehicle, helicopter, swimming_pool, roundabout,
# soccer_ball_field, plane, harbor
PALETTE = ((0, 0, 0), (0, 0, 63), (0, 63, 63), (0, 63, 0), (0, 63, 127), (0, 63, 191), (0, 63, 255), (0, 127, 63),
           (0, 127, 127), (0, 0, 127), (0, 0, 191), (0, 0, 255), (0, 191, 127), (0, 127, 191), (0, 127, 255),
           (0, 100, 155))


def color_to_index(rgb: np.ndarray) -> Tuple[np.ndarray, int]:
    """uint8 [H, W, 3] RGB mask → (uint8 [H, W] class map, number of pixels with an unknown colour → 255)."""
    code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colours, inverse = np.unique(code, return_inverse=True)
    known = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(PALETTE)}
    per_colour = np.array([known.get(int(c), 255) for c in colours], dtype=np.uint8)
    label = per_colour[inverse.reshape(code.shape)]
    return label, int(np.count_nonzero(label == 255))


def windows(length: int, patch: int, stride: int) -> List[Tuple[int, int]]:
    """Start/end of the windows covering ``[0, length)`` (``length >= patch``), last one moved back to the edge."""
    out = []
    for start in range(0, length, stride):
        start = min(start, length - patch)
        if (start, start + patch) not in out:
            out.append((start, start + patch))
    return out


def pad_to(array: np.ndarray, height: int, width: int, value: int) -> np.ndarray:
    """Pad at the bottom/right so the array is at least ``height`` × ``width``."""
    pad_h, pad_w = max(height - array.shape[0], 0), max(width - array.shape[1], 0)
    if not (pad_h or pad_w):
        return array
    pads = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pads, mode='constant', constant_values=value)


def _read_rgb(path: str, what: str) -> np.ndarray:
    try:
        return np.array(Image.open(path).convert('RGB'))
    except OSError as e:
        raise RuntimeError(f'cannot read iSAID {what} {path}: {e}') from e


def crop_pair(job: Tuple[str, Optional[str], str, str], patch_size: int, overlap: int) -> int:
    """Crop one image (and its colour mask, if any) into patches; returns the unknown-colour pixel count."""
    img_path, label_path, img_out, ann_out = job
    image = _read_rgb(img_path, 'image')
    label, unknown = None, 0
    if label_path is not None:
        label, unknown = color_to_index(_read_rgb(label_path, 'label'))
        if label.shape != image.shape[:2]:
            raise RuntimeError(f'iSAID label {label_path} is {label.shape}, image {img_path} is {image.shape[:2]}')
        label = pad_to(label, patch_size, patch_size, 255)
    image = pad_to(image, patch_size, patch_size, 0)

    stem = osp.basename(img_path).split('.')[0]
    stride = patch_size - overlap
    height, width = image.shape[:2]
    for x1, x2 in windows(width, patch_size, stride):
        for y1, y2 in windows(height, patch_size, stride):
            name = f'{stem}_{y1}_{y2}_{x1}_{x2}'
            Image.fromarray(image[y1:y2, x1:x2]).save(osp.join(img_out, name + '.png'))
            if label is not None:
                Image.fromarray(label[y1:y2, x1:x2]).save(osp.join(ann_out, name + LABEL_SUFFIX))
    return unknown


def find_jobs(src: str, out: str) -> List[Tuple[str, Optional[str], str, str]]:
    """(image, label or None, image out dir, label out dir) per source image; creates the output dirs."""
    if not osp.isdir(src):
        raise FileNotFoundError(f'iSAID source directory not found: {src}')
    jobs = []
    for split in SPLITS:
        img_dir = osp.join(src, split, 'images')
        if not osp.isdir(img_dir):
            continue
        mask_dir = osp.join(src, split, 'Semantic_masks', 'images')
        img_out, ann_out = osp.join(out, 'img_dir', split), osp.join(out, 'ann_dir', split)
        images = [p for p in sorted(glob.glob(osp.join(img_dir, '*.png'))) if '_instance_' not in osp.basename(p)]
        for img_path in images:
            stem = osp.basename(img_path).split('.')[0]
            label_path = None
            if split != 'test':
                label_path = osp.join(mask_dir, stem + LABEL_SUFFIX)
                if not osp.isfile(label_path):
                    raise FileNotFoundError(f'iSAID label not found for {img_path}: {label_path}')
            jobs.append((img_path, label_path, img_out, ann_out))
        os.makedirs(img_out, exist_ok=True)
        if split != 'test':
            os.makedirs(ann_out, exist_ok=True)
    if not jobs:
        raise FileNotFoundError(f'no images under {src}/{{{",".join(SPLITS)}}}/images')
    return jobs


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert iSAID colour masks and crop images into patches')
    parser.add_argument('dataset_path', help='iSAID root (contains train/, val/ and optionally test/)')
    parser.add_argument('-o', '--out-dir', help='output root (default: dataset_path)')
    parser.add_argument('--patch-size', default=896, type=int, help='square patch side in pixels')
    parser.add_argument('--overlap', default=384, type=int, help='pixels shared by neighbouring patches')
    parser.add_argument('--nproc', default=1, type=int, help='number of worker processes')
    args = parser.parse_args(argv)
    if not 0 <= args.overlap < args.patch_size:
        parser.error(f'--overlap must be in [0, patch size {args.patch_size}), got {args.overlap}')
    return args


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    out = args.out_dir or args.dataset_path
    jobs = find_jobs(args.dataset_path, out)
    unknown = sum(progress_map(partial(crop_pair, patch_size=args.patch_size, overlap=args.overlap), jobs,
                               args.nproc, desc='iSAID patches'))
    logger = get_root_logger()
    logger.info(f'cropped {len(jobs)} iSAID images into {out}/img_dir and {out}/ann_dir')
    if unknown:
        logger.warning(f'{unknown} label pixels had a colour outside the iSAID palette and were set to 255')
    return 0


if __name__ == '__main__':
    sys.exit(main())
