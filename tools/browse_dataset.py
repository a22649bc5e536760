"""Write the training images as the model sees them, with the ground truth drawn over them.

``python tools/browse_dataset.py CONFIG [--output-dir DIR] [--num N] [--opacity 0.5] [--show-origin]``

Runs ``data.train`` through its pipeline without the steps that only change the storage format (``Normalize``,
``DefaultFormatBundle``, ``ImageToTensor``, ``Collect``), so resizing, cropping, flipping, photometric
distortion and padding are visible; the label after the pipeline (zero reduction, class remapping, padding with
the ignore index) is blended over the image, ignored pixels are left uncoloured, and a legend lists the classes
present. ``--show-origin`` keeps only the loading steps (the files as stored).
"""
import argparse
import copy
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import Config, DictAction, get_root_logger  # noqa: E402

FORMAT_ONLY_STEPS = ('Normalize', 'DefaultFormatBundle', 'ImageToTensor', 'Collect')
LOADING_STEPS = ('LoadImageFromFile', 'LoadAnnotations')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Draw the training samples with their ground truth')
    p.add_argument('config', help='config file')
    p.add_argument('--output-dir', default='work_dirs/browse_dataset', help='folder for the images')
    p.add_argument('--num', type=int, default=None, help='only the first N samples')
    p.add_argument('--opacity', type=float, default=0.5, help='label overlay opacity in (0, 1]')
    p.add_argument('--show-origin', action='store_true', help='the stored images and labels (loading steps only)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if not 0 < args.opacity <= 1:
        p.error(f'--opacity must be in (0, 1], got {args.opacity}')
    if args.num is not None and args.num < 1:
        p.error(f'--num must be >= 1, got {args.num}')
    if not osp.isfile(args.config):
        p.error(f'config file not found: {args.config}')
    return args


def strip_pipelines(ds_cfg, keep) -> None:
    """Filter every ``pipeline`` in a dataset config (and its wrapped datasets) in place with ``keep(type)``."""
    if isinstance(ds_cfg, (list, tuple)):
        for c in ds_cfg:
            strip_pipelines(c, keep)
        return
    if not isinstance(ds_cfg, dict):
        return
    if isinstance(ds_cfg.get('pipeline'), (list, tuple)):
        ds_cfg['pipeline'] = [step for step in ds_cfg['pipeline'] if keep(step.get('type'))]
    for key in ('dataset', 'datasets'):
        if key in ds_cfg:
            strip_pipelines(ds_cfg[key], keep)


def draw_sample(results: dict, palette, class_names, opacity: float, ignore_index: int = 255):
    """BGR uint8 image with the label blended over it; ignored pixels keep the image's colour."""
    import numpy as np
    from mmseg.core.visualization import draw_overlay
    img = np.asarray(results['img'])
    img = np.clip(img, 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img  # photometric distortion: float
    seg = np.asarray(results['gt_semantic_seg']).astype(np.int64)
    drawn = draw_overlay(img, seg, palette, opacity=opacity, class_names=class_names)
    ignored = seg == ignore_index
    drawn[:img.shape[0], :img.shape[1]][ignored] = img[ignored]
    return drawn


def main(argv=None) -> int:
    args = parse_args(argv)
    import cv2
    from mmseg.datasets import build_dataset
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    train_cfg = copy.deepcopy(cfg.data.train)
    if args.show_origin:
        strip_pipelines(train_cfg, lambda t: t in LOADING_STEPS)
    else:
        strip_pipelines(train_cfg, lambda t: t not in FORMAT_ONLY_STEPS)
    dataset = build_dataset(train_cfg)
    classes, palette = list(dataset.CLASSES), dataset.PALETTE
    ignore_index = getattr(dataset, 'ignore_index', 255)
    total = len(dataset) if args.num is None else min(args.num, len(dataset))
    os.makedirs(args.output_dir, exist_ok=True)
    from tqdm import tqdm
    for i in tqdm(range(total), desc='browse', disable=None):
        results = dataset[i]
        name = results.get('ori_filename') or f'{i:06d}'
        stem = osp.splitext(name.replace(os.sep, '_'))[0]
        out = osp.join(args.output_dir, f'{i:06d}_{stem}.png')  # the index keeps repeats of a file apart
        if not cv2.imwrite(out, draw_sample(results, palette, classes, args.opacity, ignore_index)):
            raise OSError(f'cannot write {out}')
    get_root_logger().info('wrote %d images to %s', total, args.output_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
