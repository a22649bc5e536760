"""Cityscapes: ``gtFine/**/*_gtFine_polygons.json`` → ``*_gtFine_labelTrainIds.png`` (next to each json).

Uses ``cityscapesscripts``' ``json2labelImg(..., 'trainIds')`` when it is importable, otherwise an equivalent
rasteriser: polygons drawn with PIL in file order (later over earlier) on a background of 255, skipping objects
marked ``deleted`` and labels with a negative id, and reading ``<label>group`` as ``<label>``.
Also writes ``OUT/{train,val,test}.txt``: one ``<city>/<basename>`` per line for every split present.

Usage: ``python tools/convert_datasets/cityscapes.py CITYSCAPES_ROOT [--gt-dir gtFine] [-o OUT] [--nproc N]``.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterable, List, Optional

import numpy as np
from PIL import Image, ImageDraw

from mmseg.utils import get_root_logger
from mmseg.utils.progress import progress_map

POLYGON_SUFFIX = '_gtFine_polygons.json'
TRAIN_ID_SUFFIX = '_gtFine_labelTrainIds.png'
SPLITS = ('train', 'val', 'test')

# (name, id, trainId) of the standard Cityscapes label table; trainId 255 = ignored in training/evaluation
LABELS = (
    ('unlabeled', 0, 255), ('ego vehicle', 1, 255), ('rectification border', 2, 255), ('out of roi', 3, 255),
    ('static', 4, 255), ('dynamic', 5, 255), ('ground', 6, 255), ('road', 7, 0), ('sidewalk', 8, 1),
    ('parking', 9, 255), ('rail track', 10, 255), ('building', 11, 2), ('wall', 12, 3), ('fence', 13, 4),
    ('guard rail', 14, 255), ('bridge', 15, 255), ('tunnel', 16, 255), ('pole', 17, 5), ('polegroup', 18, 255),
    ('traffic light', 19, 6), ('traffic sign', 20, 7), ('vegetation', 21, 8), ('terrain', 22, 9), ('sky', 23, 10),
    ('person', 24, 11), ('rider', 25, 12), ('car', 26, 13), ('truck', 27, 14), ('bus', 28, 15),
    ('caravan', 29, 255), ('trailer', 30, 255), ('train', 31, 16), ('motorcycle', 32, 17), ('bicycle', 33, 18),
    ('license plate', -1, -1),
)
NAME_TO_ID: Dict[str, int] = {name: i for name, i, _ in LABELS}
NAME_TO_TRAIN_ID: Dict[str, int] = {name: t for name, _, t in LABELS}


def rasterise(annotation: dict, source: str = '<annotation>') -> np.ndarray:
    """uint8 [imgHeight, imgWidth] trainId map of one polygon annotation (the fallback for cityscapesscripts)."""
    try:
        height, width = int(annotation['imgHeight']), int(annotation['imgWidth'])
        objects = annotation['objects']
    except (KeyError, TypeError, ValueError) as e:
        raise RuntimeError(f'{source}: not a Cityscapes polygon annotation ({e!r})') from e
    image = Image.new('L', (width, height), NAME_TO_TRAIN_ID['unlabeled'])
    draw = ImageDraw.Draw(image)
    for obj in objects:
        if obj.get('deleted'):
            continue
        label = obj['label']
        if label not in NAME_TO_ID and label.endswith('group'):
            label = label[:-len('group')]
        if label not in NAME_TO_ID:
            raise RuntimeError(f"{source}: unknown Cityscapes label '{obj['label']}'")
        if NAME_TO_ID[label] < 0:  # e.g. license plate: not drawn
            continue
        points = [(float(x), float(y)) for x, y in obj['polygon']]
        draw.polygon(points, fill=NAME_TO_TRAIN_ID[label])
    return np.array(image)


def _official_json2label():
    try:
        from cityscapesscripts.preparation.json2labelImg import json2labelImg
    except ImportError:
        return None
    return json2labelImg


def convert_json(json_file: str, use_official: Optional[bool] = None) -> str:
    """Write the trainId PNG for one polygon json; returns its path."""
    out_file = json_file[:-len(POLYGON_SUFFIX)] + TRAIN_ID_SUFFIX
    official = _official_json2label() if use_official is not False else None
    if use_official and official is None:
        raise ImportError('cityscapesscripts is not installed')
    if official is not None:
        official(json_file, out_file, 'trainIds')
        return out_file
    try:
        with open(json_file) as f:
            annotation = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError(f'cannot read Cityscapes annotation {json_file}: {e}') from e
    Image.fromarray(rasterise(annotation, json_file)).save(out_file)
    return out_file


def find_polygons(root: str) -> List[str]:
    return sorted(glob.glob(osp.join(root, '**', '*' + POLYGON_SUFFIX), recursive=True))


def write_split_lists(gt_dir: str, out_dir: str) -> Dict[str, int]:
    """``<split>.txt`` with ``<city>/<basename>`` (relative to ``gt_dir/<split>``) per line; returns counts."""
    counts = {}
    for split in SPLITS:
        split_dir = osp.join(gt_dir, split)
        if not osp.isdir(split_dir):
            continue
        names = [osp.relpath(p, split_dir)[:-len(POLYGON_SUFFIX)] for p in find_polygons(split_dir)]
        with open(osp.join(out_dir, f'{split}.txt'), 'w') as f:
            f.writelines(n + '\n' for n in names)
        counts[split] = len(names)
    return counts


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert Cityscapes polygon annotations to trainId PNGs')
    parser.add_argument('cityscapes_path', help='Cityscapes root (contains gtFine/)')
    parser.add_argument('--gt-dir', default='gtFine', help='annotation folder inside cityscapes_path')
    parser.add_argument('-o', '--out-dir', help='where to write the split lists (default: cityscapes_path)')
    parser.add_argument('--nproc', default=1, type=int, help='number of worker processes')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    gt_dir = osp.join(args.cityscapes_path, args.gt_dir)
    if not osp.isdir(gt_dir):
        raise FileNotFoundError(f'Cityscapes annotation directory not found: {gt_dir}')
    polygons = find_polygons(gt_dir)
    if not polygons:
        raise FileNotFoundError(f'no *{POLYGON_SUFFIX} files under {gt_dir}')
    progress_map(convert_json, polygons, args.nproc, desc='Cityscapes labels')
    out_dir = args.out_dir or args.cityscapes_path
    os.makedirs(out_dir, exist_ok=True)
    counts = write_split_lists(gt_dir, out_dir)
    get_root_logger().info(f'converted {len(polygons)} Cityscapes annotations; split lists in {out_dir}: {counts}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
