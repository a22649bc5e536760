"""Write a Hub-style model folder: ``python tools/export_hub.py CONFIG CKPT DIR [--metric mIoU=41.1]``.

DIR gets ``config.py`` (the resolved config), ``model.safetensors`` (weights; classes, palette and config in its
metadata) and ``README.md`` (model card: architecture, dataset, metrics, citation). Load it back with
``mmseg.apis.hub.from_pretrained(DIR)``; upload it as is to a model hub repository to share it.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import DictAction, get_root_logger  # noqa: E402


def _metric(text: str):
    name, sep, value = text.partition('=')
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"metric value of '{name}' is not a number: '{value}'")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Export a checkpoint as a Hub-style model folder')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint (.pth / .safetensors / http(s) URL)')
    p.add_argument('out_dir', help='output folder')
    p.add_argument('--metric', type=_metric, nargs='+', default=[], help="results for the model card, 'mIoU=41.1'")
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        p.error(f'config file not found: {args.config}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis.hub import export_hub
    export_hub(args.config, args.checkpoint, args.out_dir, cfg_options=args.cfg_options,
               metrics=dict(args.metric) or None)
    get_root_logger().info('wrote model folder %s (config.py, model.safetensors, README.md)', args.out_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
