"""ISPRS Potsdam: ``2_Ortho_RGB.zip`` and ``5_Labels_all_noBoundary.zip`` (or ``5_Labels_all.zip``) in DATASET_PATH
→ ``{img_dir,ann_dir}/{train,val}/<i>_<j>_<x1>_<y1>_<x2>_<y2>.png`` patches, as mmseg 0.24.1's converter.

Tiles ``top_potsdam_<i>_<j>_RGB.tif`` / ``top_potsdam_<i>_<j>_label[_noBoundary].tif`` (at the zip root or in one
folder) are split by 0.24.1's tile lists (24 train, 14 val) and cut into ``--clip_size`` patches at 0.24.1's
positions (see ``mmseg.datasets.convert_utils.isprs_boxes``: 144 per 6000×6000 tile with the defaults). Label
colours follow the ISPRS legend: 1 impervious surface (white), 2 building (blue), 3 low vegetation (cyan),
4 tree (green), 5 car (yellow), 6 clutter (red); black and any other colour → 0 (ignored).

Usage: ``python tools/convert_datasets/potsdam.py DATASET_PATH [-o data/potsdam] [--clip_size 512]
[--stride_size 256]``.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import (ArchiveError, convert_isprs_tiles, member_names, open_archive,
                                          parse_isprs_args, report_isprs)

TRAIN = {'2_10', '2_11', '2_12', '3_10', '3_11', '3_12', '4_10', '4_11', '4_12', '5_10', '5_11', '5_12', '6_10',
         '6_11', '6_12', '6_7', '6_8', '6_9', '7_10', '7_11', '7_12', '7_7', '7_8', '7_9'}
VAL = {'5_15', '6_15', '6_13', '3_13', '4_14', '6_14', '5_14', '2_13', '4_15', '2_14', '5_13', '4_13', '3_14', '7_13'}
IMAGE_ZIP = '2_Ortho_RGB.zip'
LABEL_ZIPS = ('5_Labels_all_noBoundary.zip', '5_Labels_all.zip')


def tile_id(name: str) -> str:
    parts = osp.basename(name).split('_')
    if len(parts) < 4 or parts[0] != 'top' or parts[1] != 'potsdam':
        raise ArchiveError(f'unexpected Potsdam tile name {name}; expected top_potsdam_<i>_<j>_....tif')
    return f'{parts[2]}_{parts[3]}'


def convert_zip(path: str, to_label: bool, args) -> int:
    expected = ('the Potsdam label zip with top_potsdam_<i>_<j>_label*.tif' if to_label
                else f'the Potsdam {IMAGE_ZIP} with top_potsdam_<i>_<j>_RGB.tif')
    archive = open_archive(path, expected)
    tiles = [n for n in member_names(archive) if n.lower().endswith('.tif')
             and osp.basename(n).startswith('top_potsdam_') and ('_label' in osp.basename(n)) == to_label]
    if not tiles:
        raise ArchiveError(f'{path} holds no {"label" if to_label else "image"} tiles; expected {expected}')
    return convert_isprs_tiles(archive, tiles, tile_id, TRAIN, args, to_label, f'Potsdam {osp.basename(path)}')


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    return parse_isprs_args('Potsdam', f'{IMAGE_ZIP} and {LABEL_ZIPS[0]}', osp.join('data', 'potsdam'), argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    image_zip = osp.join(args.dataset_path, IMAGE_ZIP)
    open_archive(image_zip, f'the Potsdam {IMAGE_ZIP} (RGB tiles)')
    label_zip = next((osp.join(args.dataset_path, z) for z in LABEL_ZIPS if osp.isfile(osp.join(args.dataset_path, z))),
                     None)
    if label_zip is None:
        raise ArchiveError(f'{osp.join(args.dataset_path, LABEL_ZIPS[0])} not found; expected the Potsdam label zip '
                           f'({" or ".join(LABEL_ZIPS)})')
    convert_zip(image_zip, False, args)
    unknown = convert_zip(label_zip, True, args)
    report_isprs('Potsdam', args.out_dir, unknown)
    return 0


if __name__ == '__main__':
    sys.exit(main())
