"""STARE: ``stare-images.tar``, ``labels-ah.tar`` and ``labels-vk.tar`` as distributed (20 gzipped PPMs each)
→ ``images/{training,validation}/im0001.png`` and ``annotations/{training,validation}/im0001.{ah,vk}.png``
(0 background, 1 vessel, thresholded at 128), as mmseg 0.24.1's converter: the first 10 files in name order are
training, the last 10 validation. ``STAREDataset`` reads the ``.ah`` (A. Hoover) labels.

Usage: ``python tools/convert_datasets/stare.py stare-images.tar labels-ah.tar labels-vk.tar [-o data/STARE]``.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import (ArchiveError, decode_bgr, member_names, open_archive, progress,
                                          read_member, vessel_label, write_png)
from mmseg.utils import get_root_logger

NUM_FILES, NUM_TRAIN = 20, 10
KINDS = (('image_path', 'stare-images.tar', 'im0001.ppm.gz'), ('labels_ah', 'labels-ah.tar', 'im0001.ah.ppm.gz'),
         ('labels_vk', 'labels-vk.tar', 'im0001.vk.ppm.gz'))


def convert_tar(path: str, tar_name: str, example: str, out_dir: str) -> None:
    expected = f'the STARE {tar_name} with {NUM_FILES} gzipped PPM files ({example}, ...)'
    archive = open_archive(path, expected)
    names = sorted(member_names(archive), key=osp.basename)
    if len(names) != NUM_FILES or not all(n.endswith('.ppm.gz') for n in names):
        raise ArchiveError(f'{path} has {len(names)} files (first: {names[:2]}); expected {expected}')
    is_label = tar_name != 'stare-images.tar'
    for i, name in enumerate(progress(names, f'STARE {tar_name}')):
        split = 'training' if i < NUM_TRAIN else 'validation'
        stem = osp.basename(name)[:-len('.ppm.gz')]  # im0001 or im0001.ah
        img = decode_bgr(read_member(archive, name), name)
        folder = 'annotations' if is_label else 'images'
        write_png(osp.join(out_dir, folder, split, stem + '.png'), vessel_label(img) if is_label else img)


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert STARE to the mmseg layout')
    for arg, tar_name, _ in KINDS:
        parser.add_argument(arg, help=f'path of {tar_name}')
    parser.add_argument('--tmp_dir', help='accepted for compatibility; archives are read without extracting')
    parser.add_argument('-o', '--out_dir', default=osp.join('data', 'STARE'), help='output root')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    for arg, tar_name, _ in KINDS:  # check every archive before writing anything
        open_archive(getattr(args, arg), f'the STARE {tar_name}')
    for arg, tar_name, example in KINDS:
        convert_tar(getattr(args, arg), tar_name, example, args.out_dir)
    get_root_logger().info(f'STARE: 10 training and 10 validation images written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
