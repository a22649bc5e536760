"""A small synthetic segmentation dataset in ADE20K layout, learnable in minutes on a CPU.

Layout under ``root``: ``images/{training,validation}/demo_XXXXX.jpg`` and
``annotations/{training,validation}/demo_XXXXX.png`` (8-bit labels). ADE conventions: 0 = "other" (a thin band on
every region boundary, ignored after ``reduce_zero_label``), 1 = background, 2 = disk, 3 = square, 4 = triangle.

Colour does not identify a class: every region (background and each object) draws its two colours from the same
uniform RGB range. Classes differ by form and texture: the background is a smooth gradient with fine noise, disks
carry a checkerboard, squares (rotated) blocky noise, triangles stripes of random angle and period.

Run ``python tools/make_demo_dataset.py ROOT`` to write it.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmseg.registry import DATASETS
from mmseg.utils import get_root_logger
from .custom import CustomDataset

DEMO_CLASSES = ('background', 'disk', 'square', 'triangle')
DEMO_PALETTE = [[70, 70, 70], [220, 20, 60], [0, 130, 200], [250, 190, 30]]
_SPLITS = ('training', 'validation')
_META_FILE = 'demo_meta.json'
_COLOR_RANGE = (30, 226)  # shared by every class so that colour alone cannot separate them


@DATASETS.register_module()
class DemoDataset(CustomDataset):
    """The synthetic dataset of :func:`generate_demo_dataset`: 4 classes, label 0 ignored (reduce_zero_label)."""
    CLASSES = DEMO_CLASSES
    PALETTE = DEMO_PALETTE

    def __init__(self, **kwargs):
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        kwargs.setdefault('reduce_zero_label', True)
        super().__init__(**kwargs)


def _colors(rng: np.random.RandomState) -> np.ndarray:
    """Two well-separated random colours (2×3 float): texture needs contrast to be visible."""
    while True:
        c = rng.uniform(*_COLOR_RANGE, size=(2, 3))
        if np.abs(c[0] - c[1]).sum() > 120:
            return c


def _mix(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend colour c[0] (t=0) to c[1] (t=1) per pixel: H×W → H×W×3."""
    return c[0] * (1 - t[..., None]) + c[1] * t[..., None]


def _texture(kind: str, h: int, w: int, rng: np.random.RandomState) -> np.ndarray:
    """Texture image H×W×3 float in the shared colour range."""
    c = _colors(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == 'background':
        ang = rng.uniform(0, 2 * np.pi)
        g = (np.cos(ang) * xx + np.sin(ang) * yy)
        t = (g - g.min()) / max(g.max() - g.min(), 1e-6)
        return _mix(c, t) + rng.normal(0, 6, size=(h, w, 1))
    if kind == 'disk':
        cell = rng.randint(7, 13)
        t = ((xx // cell + yy // cell) % 2).astype(np.float64)
        return _mix(c, t)
    if kind == 'square':
        block = rng.randint(4, 8)
        coarse = rng.randint(0, 2, size=(h // block + 1, w // block + 1)).astype(np.float64)
        t = np.kron(coarse, np.ones((block, block)))[:h, :w]
        return _mix(c, t)
    if kind == 'triangle':
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(9, 15)
        t = (np.sin(2 * np.pi * (np.cos(ang) * xx + np.sin(ang) * yy) / period) > 0).astype(np.float64)
        return _mix(c, t)
    raise ValueError(kind)


def _shape_mask(kind: str, h: int, w: int, rng: np.random.RandomState) -> np.ndarray:
    """Boolean mask of one large object placed at random."""
    s = min(h, w)
    r = rng.uniform(0.2, 0.34) * s
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    mask = np.zeros((h, w), np.uint8)
    if kind == 'disk':
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(r)), 1, -1)
    else:
        n = 4 if kind == 'square' else 3
        rot = rng.uniform(0, 2 * np.pi)
        # Squares use their circumradius r·√2/… so that all shapes have similar areas.
        radius = r * (1.2 if kind == 'square' else 1.35)
        pts = [(cx + radius * np.cos(rot + 2 * np.pi * k / n), cy + radius * np.sin(rot + 2 * np.pi * k / n))
               for k in range(n)]
        cv2.fillPoly(mask, [np.round(np.array(pts)).astype(np.int32)], 1)
    return mask.astype(bool)


def make_sample(rng: np.random.RandomState, size: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """One (BGR uint8 image H×W×3, label uint8 H×W) pair."""
    h, w = size
    img = _texture('background', h, w, rng)
    label = np.ones((h, w), np.uint8)
    for _ in range(rng.randint(1, 3)):
        cls = rng.randint(2, 5)
        kind = DEMO_CLASSES[cls - 1]
        # A few placements are tried so that objects mostly keep their full form (little occlusion).
        for _ in range(10):
            mask = _shape_mask(kind, h, w, rng)
            if (label[mask] != 1).mean() < 0.1:
                break
        img[mask] = _texture(kind, h, w, rng)[mask]
        label[mask] = cls
    # Region boundaries become 0 ("other"): a pixel whose 4-neighbourhood holds another class.
    edge = np.zeros_like(label, bool)
    edge[1:] |= label[1:] != label[:-1]
    edge[:-1] |= label[:-1] != label[1:]
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    edge[:, :-1] |= label[:, :-1] != label[:, 1:]
    label[edge] = 0
    return np.clip(np.round(img), 0, 255).astype(np.uint8), label


def _write_atomic(path: str, ext: str, arr: np.ndarray, params: Sequence[int] = ()) -> None:
    ok, buf = cv2.imencode(ext, arr, list(params))
    if not ok:
        raise OSError(f'cannot encode {path}')
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(buf.tobytes())
    os.replace(tmp, path)  # a crash never leaves a half-written image behind


def _expected(root: str, counts: Dict[str, int]):
    for split, n in counts.items():
        for i in range(n):
            name = f'demo_{i:05d}'
            yield (split, i, osp.join(root, 'images', split, name + '.jpg'),
                   osp.join(root, 'annotations', split, name + '.png'))


def generate_demo_dataset(root: str, num_train: int = 200, num_val: int = 40, size: Tuple[int, int] = (128, 128),
                          seed: int = 0, jpeg_quality: int = 95) -> str:
    """Write the demo dataset under ``root`` (deterministic in ``seed``); skip if it is already complete.

    Returns ``root``. Each sample uses its own ``RandomState(seed, split, index)``, so the global RNG is untouched
    and a partial run is completed with identical files.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got {num_train}, {num_val}')
    if min(size) < 32:
        raise ValueError(f'size must be at least 32×32, got {tuple(size)}')
    meta = dict(num_train=num_train, num_val=num_val, size=list(size), seed=seed, jpeg_quality=jpeg_quality,
                classes=list(DEMO_CLASSES), version=2)
    meta_path = osp.join(root, _META_FILE)
    counts = {'training': num_train, 'validation': num_val}
    logger = get_root_logger()
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        if old != meta:
            raise FileExistsError(f'{root} holds a demo dataset with different settings ({meta_path}: {old}); '
                                  f'use another root or delete it')
        if all(osp.isfile(a) and osp.isfile(b) for _, _, a, b in _expected(root, counts)):
            logger.info(f'demo dataset already complete in {root}')
            return root
    for split in _SPLITS:
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
    with open(meta_path + '.tmp', 'w') as f:
        json.dump(meta, f)
    os.replace(meta_path + '.tmp', meta_path)
    written = 0
    for split, i, img_path, ann_path in _expected(root, counts):
        if osp.isfile(img_path) and osp.isfile(ann_path):
            continue
        rng = np.random.RandomState([seed, _SPLITS.index(split), i])
        img, label = make_sample(rng, tuple(size))
        _write_atomic(img_path, '.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        _write_atomic(ann_path, '.png', label)
        written += 1
    logger.info(f'demo dataset: wrote {written} samples to {root}')
    return root


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description='Write the synthetic demo segmentation dataset (ADE20K layout).')
    p.add_argument('root', help='output folder')
    p.add_argument('--num-train', type=int, default=200)
    p.add_argument('--num-val', type=int, default=40)
    p.add_argument('--size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'))
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    generate_demo_dataset(args.root, args.num_train, args.num_val, tuple(args.size), args.seed)

