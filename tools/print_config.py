"""Print the resolved config (``_base_`` files merged, ``--cfg-options`` applied), as MMSegmentation's tool does.

``python tools/print_config.py CONFIG [--cfg-options k=v ...] [--out resolved.py]``; the printed text is Python
that ``Config.fromfile`` reads back to the same config.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import Config, DictAction  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Print the resolved config')
    p.add_argument('config', help='config file')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    p.add_argument('--out', help='also write the resolved config to this .py file')
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        p.error(f'config file not found: {args.config}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    text = cfg.pretty_text
    print(f'Config:\n{text}')  # the tool's output is the config itself
    if args.out:
        cfg.dump(args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
