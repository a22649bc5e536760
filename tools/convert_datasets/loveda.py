"""LoveDA: ``Train.zip``, ``Val.zip`` (and ``Test.zip``) as distributed in DATASET_PATH
→ ``img_dir/{train,val,test}/<id>.png`` and ``ann_dir/{train,val}/<id>.png``, Rural and Urban together, files
copied unchanged (labels 0 = no data, 1..7 = background..agricultural), as mmseg 0.24.1's converter.

Each zip holds ``<Split>/{Rural,Urban}/images_png/*.png`` and, except Test, ``<Split>/{Rural,Urban}/masks_png/*.png``.
A missing ``Test.zip`` is skipped with a warning (0.24.1 requires it; it has no labels).

Usage: ``python tools/convert_datasets/loveda.py DATASET_PATH [-o data/loveDA]``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Iterable, Optional

from mmseg.datasets.convert_utils import ArchiveError, member_names, open_archive, progress, read_member
from mmseg.utils import get_root_logger

SPLITS = ('Train', 'Val', 'Test')


def convert_zip(path: str, split: str, out_dir: str) -> int:
    expected = f'the LoveDA {split}.zip with {split}/Rural/images_png/*.png and {split}/Urban/images_png/*.png'
    if split != 'Test':
        expected += ' (and masks_png)'
    archive = open_archive(path, expected)
    kinds = [('images_png', 'img_dir')] + ([] if split == 'Test' else [('masks_png', 'ann_dir')])
    names = member_names(archive)
    jobs = []
    for area in ('Rural', 'Urban'):
        for sub, folder in kinds:
            found = [n for n in names if n.startswith(f'{split}/{area}/{sub}/') and n.endswith('.png')]
            if not found:
                raise ArchiveError(f'{path} has no {split}/{area}/{sub}/*.png entries; expected {expected}')
            jobs += [(n, osp.join(out_dir, folder, split.lower(), osp.basename(n))) for n in found]
    targets = [t for _, t in jobs]
    if len(set(targets)) != len(targets):
        raise ArchiveError(f'{path}: Rural and Urban share file names, which would overwrite each other')
    for name, target in progress(jobs, f'LoveDA {split}'):
        os.makedirs(osp.dirname(target), exist_ok=True)
        with open(target, 'wb') as f:
            f.write(read_member(archive, name))
    return sum(1 for n, _ in jobs if '/images_png/' in n)


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert LoveDA to the mmseg layout')
    parser.add_argument('dataset_path', help='folder holding Train.zip, Val.zip and Test.zip')
    parser.add_argument('--tmp_dir', help='accepted for compatibility; archives are read without extracting')
    parser.add_argument('-o', '--out_dir', default=osp.join('data', 'loveDA'), help='output root')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    logger = get_root_logger()
    if not osp.isdir(args.dataset_path):
        raise ArchiveError(f'LoveDA folder {args.dataset_path} not found; expected one holding Train.zip and Val.zip')
    for split in SPLITS[:2]:
        open_archive(osp.join(args.dataset_path, split + '.zip'), f'the LoveDA {split}.zip')
    for split in SPLITS:
        path = osp.join(args.dataset_path, split + '.zip')
        if split == 'Test' and not osp.isfile(path):
            logger.warning(f'LoveDA: {path} not found; the unlabelled test images are skipped')
            continue
        logger.info(f'LoveDA {split}: {convert_zip(path, split, args.out_dir)} images written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
