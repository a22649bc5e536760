"""DRIVE: ``training.zip`` and ``test.zip`` as distributed → ``images/{training,validation}/<n>.png`` and
``annotations/{training,validation}/<n>_manual1.png`` (0 background, 1 vessel), as mmseg 0.24.1's converter.

``training.zip`` holds ``training/images/21_training.tif`` and ``training/1st_manual/21_manual1.gif``; ``test.zip``
holds ``test/images/01_test.tif`` and ``test/1st_manual/01_manual1.gif`` (the test set becomes the validation set).
Image names lose their ``_training``/``_test`` part so that ``21.png`` pairs with ``21_manual1.png``; labels are
the first observer's GIF thresholded at 128.

Usage: ``python tools/convert_datasets/drive.py training.zip test.zip [-o data/DRIVE]``.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import (ArchiveError, decode_bgr, member_names, open_archive, progress,
                                          read_member, vessel_label, write_png)
from mmseg.utils import get_root_logger

LAYOUT = '{top}/images/*.tif and {top}/1st_manual/*_manual1.gif'


def convert_split(zip_path: str, top: str, split: str, out_dir: str) -> int:
    """Write one archive's images and first-observer labels; returns the number of images."""
    expected = f'the DRIVE {osp.basename(zip_path)} with ' + LAYOUT.format(top=top)
    archive = open_archive(zip_path, expected)
    names = member_names(archive)
    images = sorted(n for n in names if n.startswith(f'{top}/images/'))
    labels = sorted(n for n in names if n.startswith(f'{top}/1st_manual/'))
    if not images or not labels:
        raise ArchiveError(f'{zip_path} has no {top}/images/ or {top}/1st_manual/ entries; expected {expected}')
    for name in progress(images, f'DRIVE {split} images'):
        stem = osp.splitext(osp.basename(name))[0].replace(f'_{top}', '')
        write_png(osp.join(out_dir, 'images', split, stem + '.png'), decode_bgr(read_member(archive, name), name))
    for name in progress(labels, f'DRIVE {split} labels'):
        stem = osp.splitext(osp.basename(name))[0]
        label = vessel_label(decode_bgr(read_member(archive, name), name))
        write_png(osp.join(out_dir, 'annotations', split, stem + '.png'), label)
    return len(images)


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert DRIVE to the mmseg layout')
    parser.add_argument('training_path', help='path of training.zip')
    parser.add_argument('testing_path', help='path of test.zip')
    parser.add_argument('--tmp_dir', help='accepted for compatibility; archives are read without extracting')
    parser.add_argument('-o', '--out_dir', default=osp.join('data', 'DRIVE'), help='output root')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    n_train = convert_split(args.training_path, 'training', 'training', args.out_dir)
    n_val = convert_split(args.testing_path, 'test', 'validation', args.out_dir)
    get_root_logger().info(f'DRIVE: {n_train} training and {n_val} validation images written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
