"""CHASE_DB1: ``CHASEDB1.zip`` as distributed (28 × ``Image_NNX.jpg`` + ``_1stHO.png`` + ``_2ndHO.png`` = 84 files)
→ ``images/{training,validation}/Image_NNX.png`` and ``annotations/{training,validation}/Image_NNX_{1st,2nd}HO.png``
(0 background, 1 vessel, thresholded at 128), as mmseg 0.24.1's converter: the first 60 files in name order (20
images) are the training set, the last 24 (8 images) the validation set.

Usage: ``python tools/convert_datasets/chase_db1.py CHASEDB1.zip [-o data/CHASE_DB1]``.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import (ArchiveError, decode_bgr, member_names, open_archive, progress,
                                          read_member, vessel_label, write_png)
from mmseg.utils import get_root_logger

NUM_FILES, NUM_TRAIN_FILES = 28 * 3, 60
EXPECTED = 'the CHASE_DB1 CHASEDB1.zip with 84 files: Image_01L.jpg, Image_01L_1stHO.png, Image_01L_2ndHO.png, ...'


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert CHASE_DB1 to the mmseg layout')
    parser.add_argument('dataset_path', help='path of CHASEDB1.zip')
    parser.add_argument('--tmp_dir', help='accepted for compatibility; archives are read without extracting')
    parser.add_argument('-o', '--out_dir', default=osp.join('data', 'CHASE_DB1'), help='output root')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    archive = open_archive(args.dataset_path, EXPECTED)
    names = sorted(member_names(archive), key=osp.basename)
    if len(names) != NUM_FILES or not all(osp.basename(n).startswith('Image_') for n in names):
        raise ArchiveError(f'{args.dataset_path} has {len(names)} files (first: {names[:2]}); expected {EXPECTED}')
    for i, name in enumerate(progress(names, 'CHASE_DB1')):
        split = 'training' if i < NUM_TRAIN_FILES else 'validation'
        stem, ext = osp.splitext(osp.basename(name))
        img = decode_bgr(read_member(archive, name), name)
        if ext.lower() == '.jpg':
            write_png(osp.join(args.out_dir, 'images', split, stem + '.png'), img)
        else:
            write_png(osp.join(args.out_dir, 'annotations', split, stem + '.png'), vessel_label(img))
    get_root_logger().info(f'CHASE_DB1: 20 training and 8 validation images written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
