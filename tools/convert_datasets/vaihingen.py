"""ISPRS Vaihingen: ``ISPRS_semantic_labeling_Vaihingen.zip`` and
``ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip`` in DATASET_PATH
→ ``{img_dir,ann_dir}/{train,val}/area<k>_<x1>_<y1>_<x2>_<y2>.png`` patches, as mmseg 0.24.1's converter.

Tiles ``top/top_mosaic_09cm_area<k>.tif`` and ``top_mosaic_09cm_area<k>_noBoundary.tif`` are split by 0.24.1's
area lists (16 train, 17 val; area 9's label is unused) and cut as for Potsdam (``isprs_boxes``), with the same
colour legend (``isprs_colour_to_label``).

Usage: ``python tools/convert_datasets/vaihingen.py DATASET_PATH [-o data/vaihingen] [--clip_size 512]
[--stride_size 256]``.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import (ArchiveError, convert_isprs_tiles, member_names, open_archive,
                                          parse_isprs_args, report_isprs)

TRAIN = {'area1', 'area11', 'area13', 'area15', 'area17', 'area21', 'area23', 'area26', 'area28', 'area3', 'area30',
         'area32', 'area34', 'area37', 'area5', 'area7'}
VAL = {'area6', 'area24', 'area35', 'area16', 'area14', 'area22', 'area10', 'area4', 'area2', 'area20', 'area8',
       'area31', 'area33', 'area27', 'area38', 'area12', 'area29'}
IMAGE_ZIP = 'ISPRS_semantic_labeling_Vaihingen.zip'
LABEL_ZIP = 'ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip'


def area_id(name: str) -> str:
    parts = osp.splitext(osp.basename(name))[0].split('_')
    if len(parts) < 4 or not parts[3].startswith('area'):
        raise ArchiveError(f'unexpected Vaihingen tile name {name}; expected top_mosaic_09cm_area<k>[_noBoundary].tif')
    return parts[3]


def convert_zip(path: str, to_label: bool, args) -> int:
    expected = (f'the Vaihingen {LABEL_ZIP} with top_mosaic_09cm_area<k>_noBoundary.tif' if to_label
                else f'the Vaihingen {IMAGE_ZIP} with top/top_mosaic_09cm_area<k>.tif')
    archive = open_archive(path, expected)
    if to_label:
        tiles = [n for n in member_names(archive) if n.endswith('_noBoundary.tif')]
        tiles = [n for n in tiles if area_id(n) != 'area9']  # 0.24.1 drops area 9's label
    else:
        tiles = [n for n in member_names(archive) if n.startswith('top/top_mosaic') and n.endswith('.tif')]
    if not tiles:
        raise ArchiveError(f'{path} holds no {"label" if to_label else "image"} tiles; expected {expected}')
    return convert_isprs_tiles(archive, tiles, area_id, TRAIN, args, to_label, f'Vaihingen {osp.basename(path)}')


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    return parse_isprs_args('Vaihingen', f'{IMAGE_ZIP} and {LABEL_ZIP}', osp.join('data', 'vaihingen'), argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    image_zip, label_zip = osp.join(args.dataset_path, IMAGE_ZIP), osp.join(args.dataset_path, LABEL_ZIP)
    open_archive(image_zip, f'the Vaihingen {IMAGE_ZIP} (top/ tiles)')
    open_archive(label_zip, f'the Vaihingen {LABEL_ZIP} (eroded labels)')
    convert_zip(image_zip, False, args)
    unknown = convert_zip(label_zip, True, args)
    report_isprs('Vaihingen', args.out_dir, unknown)
    return 0


if __name__ == '__main__':
    sys.exit(main())
