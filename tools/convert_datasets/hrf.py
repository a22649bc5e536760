"""HRF: the six zips as distributed (``healthy.zip``, ``healthy_manualsegm.zip``, ``glaucoma.zip``,
``glaucoma_manualsegm.zip``, ``diabetic_retinopathy.zip``, ``diabetic_retinopathy_manualsegm.zip``, 15 files each)
→ ``images/{training,validation}/<name>.png`` and ``annotations/{training,validation}/<name>.png`` (0 background,
1 vessel, thresholded at 128), as mmseg 0.24.1's converter: per zip, the first 5 files in name order are training,
the other 10 validation.

Usage: ``python tools/convert_datasets/hrf.py healthy.zip healthy_manualsegm.zip glaucoma.zip
glaucoma_manualsegm.zip diabetic_retinopathy.zip diabetic_retinopathy_manualsegm.zip [-o data/HRF]``.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import (ArchiveError, decode_bgr, member_names, open_archive, progress,
                                          read_member, vessel_label, write_png)
from mmseg.utils import get_root_logger

NUM_FILES, NUM_TRAIN = 15, 5
ARGS = ('healthy_path', 'healthy_manualsegm_path', 'glaucoma_path', 'glaucoma_manualsegm_path',
        'diabetic_retinopathy_path', 'diabetic_retinopathy_manualsegm_path')


def convert_zip(path: str, what: str, is_label: bool, out_dir: str) -> None:
    expected = f'the HRF {what}.zip with {NUM_FILES} ' + ('vessel masks (01_h.tif, ...)' if is_label
                                                         else 'fundus images (01_h.jpg, ...)')
    archive = open_archive(path, expected)
    names = sorted(member_names(archive), key=osp.basename)
    if len(names) != NUM_FILES:
        raise ArchiveError(f'{path} has {len(names)} files; expected {expected}')
    for i, name in enumerate(progress(names, f'HRF {what}')):
        split = 'training' if i < NUM_TRAIN else 'validation'
        stem = osp.splitext(osp.basename(name))[0]
        img = decode_bgr(read_member(archive, name), name)
        folder = 'annotations' if is_label else 'images'
        write_png(osp.join(out_dir, folder, split, stem + '.png'), vessel_label(img) if is_label else img)


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert HRF to the mmseg layout')
    for name in ARGS:
        parser.add_argument(name, help=f'path of {name[:-5]}.zip')
    parser.add_argument('--tmp_dir', help='accepted for compatibility; archives are read without extracting')
    parser.add_argument('-o', '--out_dir', default=osp.join('data', 'HRF'), help='output root')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    for name in ARGS:  # check every archive before writing anything
        open_archive(getattr(args, name), f'the HRF {name[:-5]}.zip')
    for name in ARGS:
        convert_zip(getattr(args, name), name[:-5], name.endswith('manualsegm_path'), args.out_dir)
    get_root_logger().info(f'HRF: 15 training and 30 validation images written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
