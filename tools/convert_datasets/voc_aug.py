"""Pascal VOC 2012 + SBD ("aug"): build ``SegmentationClassAug`` and ``ImageSets/Segmentation/aug.txt``.

* every SBD ``dataset/cls/*.mat`` (``GTcls.Segmentation``, class ids 0..20) becomes ``SegmentationClassAug/<name>.png``;
* VOC ``SegmentationClass/*.png`` labels (palette PNGs) are stored there as plain index PNGs for the images SBD
  does not cover, so every name in ``aug.txt`` has a label (SBD's label wins where both exist);
* ``aug.txt`` = (SBD train ∪ SBD val ∪ VOC train) − VOC val, sorted, one name per line.

Usage: ``python tools/convert_datasets/voc_aug.py VOCDEVKIT SBD_ROOT [-o OUT] [--nproc N]``, where ``VOCDEVKIT``
contains ``VOC2012/`` and ``SBD_ROOT`` (``benchmark_RELEASE``) contains ``dataset/{cls,train.txt,val.txt}``.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from typing import Iterable, List, Optional, Set, Tuple

import numpy as np
from PIL import Image

from mmseg.utils import get_root_logger
from mmseg.utils.progress import progress_map


def read_sbd_mat(path: str) -> np.ndarray:
    """uint8 [H, W] class map from an SBD ``cls/*.mat``."""
    from scipy.io import loadmat
    try:
        seg = loadmat(path)['GTcls'][0]['Segmentation'][0]
    except Exception as e:  # scipy raises assorted types for damaged files
        raise RuntimeError(f'cannot read GTcls.Segmentation from SBD file {path}: {e!r}') from e
    seg = np.asarray(seg)
    if seg.ndim != 2 or seg.size == 0 or seg.min() < 0 or seg.max() > 255:
        raise RuntimeError(f'SBD file {path}: GTcls.Segmentation is not a 2-D 8-bit class map')
    return seg.astype(np.uint8)


def read_voc_png(path: str) -> np.ndarray:
    """uint8 [H, W] class map from a VOC palette PNG (the palette indices are the class ids)."""
    try:
        image = Image.open(path)
        label = np.array(image)
    except OSError as e:
        raise RuntimeError(f'cannot read VOC label {path}: {e}') from e
    if label.ndim != 2 or label.dtype != np.uint8:
        raise RuntimeError(f'VOC label {path} must be a palette or grayscale PNG, got mode {image.mode}')
    return label


def _convert(job: Tuple[str, str, str]) -> None:
    kind, src, dst = job
    label = read_sbd_mat(src) if kind == 'sbd' else read_voc_png(src)
    Image.fromarray(label).save(dst)


def read_list(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'split list not found: {path}')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def aug_list(sbd_train: Iterable[str], sbd_val: Iterable[str], voc_train: Iterable[str],
             voc_val: Iterable[str]) -> List[str]:
    """(SBD train ∪ SBD val ∪ VOC train) − VOC val, sorted."""
    names: Set[str] = set(sbd_train) | set(sbd_val) | set(voc_train)
    return sorted(names - set(voc_val))


def _require_dir(path: str, what: str) -> str:
    if not osp.isdir(path):
        raise FileNotFoundError(f'{what} directory not found: {path}')
    return path


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert SBD + VOC 2012 labels into SegmentationClassAug')
    parser.add_argument('devkit_path', help='VOCdevkit root (contains VOC2012/)')
    parser.add_argument('aug_path', help='SBD root (contains dataset/cls)')
    parser.add_argument('-o', '--out-dir', help='label output (default: VOC2012/SegmentationClassAug)')
    parser.add_argument('--nproc', default=1, type=int, help='number of worker processes')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    voc_root = _require_dir(osp.join(args.devkit_path, 'VOC2012'), 'VOC2012')
    sbd_cls = _require_dir(osp.join(args.aug_path, 'dataset', 'cls'), 'SBD cls')
    voc_cls = _require_dir(osp.join(voc_root, 'SegmentationClass'), 'VOC SegmentationClass')
    split_dir = osp.join(voc_root, 'ImageSets', 'Segmentation')
    names = aug_list(read_list(osp.join(args.aug_path, 'dataset', 'train.txt')),
                     read_list(osp.join(args.aug_path, 'dataset', 'val.txt')),
                     read_list(osp.join(split_dir, 'train.txt')), read_list(osp.join(split_dir, 'val.txt')))

    out_dir = args.out_dir or osp.join(voc_root, 'SegmentationClassAug')
    os.makedirs(out_dir, exist_ok=True)
    jobs = []
    for src in sorted(glob.glob(osp.join(sbd_cls, '*.mat'))):
        jobs.append(('sbd', src, osp.join(out_dir, osp.splitext(osp.basename(src))[0] + '.png')))
    sbd_names = {osp.splitext(osp.basename(j[1]))[0] for j in jobs}
    for src in sorted(glob.glob(osp.join(voc_cls, '*.png'))):
        name = osp.splitext(osp.basename(src))[0]
        if name not in sbd_names:
            jobs.append(('voc', src, osp.join(out_dir, name + '.png')))
    progress_map(_convert, jobs, args.nproc, desc='VOC aug labels')

    with open(osp.join(split_dir, 'aug.txt'), 'w') as f:
        f.writelines(n + '\n' for n in names)
    logger = get_root_logger()
    logger.info(f'wrote {len(jobs)} labels to {out_dir} and {len(names)} names to {split_dir}/aug.txt')
    labelled = {osp.splitext(osp.basename(j[2]))[0] for j in jobs}
    missing = [n for n in names if n not in labelled]
    if missing:
        logger.warning(f'{len(missing)} names in aug.txt have no label (first: {missing[0]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
