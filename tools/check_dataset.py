"""Check a config's dataset before training: ``python tools/check_dataset.py CONFIG [--split train|val|test]``.

Runs the preflight that training and testing run (every image decodes; labels are single-channel class indices,
read at their bit depth, in range after reduce_zero_label and of their image's size; the head's num_classes and
reduce_zero_label agree with the data) and prints what is worth knowing before a long run: number of images, size
range, class pixel histogram, classes never present and the ignored fraction. Exit status 1 lists every problem.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils.config import Config, DictAction  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Check a dataset and print its summary (the training preflight)')
    p.add_argument('config', help='config file')
    p.add_argument('--split', nargs='+', default=None, choices=['train', 'val', 'test'],
                   help='splits to check (default: train and val, as training does)')
    p.add_argument('--work-dir', help='where the file cache goes (default: ~/.cache/segnext)')
    p.add_argument('--workers', type=int, default=None, help='reader threads')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.datasets.preflight import DatasetCheckError, preflight_config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    splits = args.split or [s for s in ('train', 'val') if (cfg.get('data') or {}).get(s) is not None]
    try:
        summaries = preflight_config(cfg, splits=splits, work_dir=args.work_dir, num_workers=args.workers)
    except DatasetCheckError as e:
        sys.stderr.write(f'{e}\n')
        return 1
    for summary in summaries.values():
        sys.stdout.write(summary.format() + '\n')
    sys.stdout.write('no problems found\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
