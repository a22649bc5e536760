"""The model zoo by name: ``python tools/zoo.py list`` and ``python tools/zoo.py download NAME [--dir D]``.

A name works wherever a checkpoint does: ``init_segmentor('segnext_mscan-t_ade20k')``,
``tools/test.py CONFIG NAME --eval mIoU``, ``tools/image_demo.py IMG CONFIG NAME``, ``tools/train.py --load-from
NAME``. Downloads go once into the torch hub cache (``--dir`` elsewhere), with the sha256 prefix in the file name
checked (``mmseg.models.zoo``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.models import zoo  # noqa: E402
from mmseg.models.checkpoint import CheckpointError  # noqa: E402


def _mIoU(value) -> str:
    return f'{value:.2f}' if value is not None else '-'


def list_entries() -> str:
    rows = [('name', 'dataset', 'classes', 'mIoU', 'ms+flip', 'config')]
    for e in zoo.zoo().values():
        rows.append((e.name, e.dataset, str(e.num_classes), _mIoU(e.miou), _mIoU(e.miou_ms_flip),
                     e.config or f'({e.kind}: init_cfg.checkpoint / --load-from)'))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r, widths)) + '  ' + r[-1] for r in rows)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='List or download the published SegNeXt weights by name')
    sub = p.add_subparsers(dest='command', required=True)
    sub.add_parser('list', help='the names, datasets, published mIoU and configs')
    d = sub.add_parser('download', help='fetch one checkpoint (once) and print where it is')
    d.add_argument('name')
    d.add_argument('--dir', help='folder to put it in (default: the torch hub cache, where every tool looks)')
    d.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.utils import get_root_logger
    get_root_logger()  # 'downloaded URL to PATH' and, without a terminal, progress lines go to stderr
    try:
        if args.command == 'list':
            print(list_entries())
            return 0
        path = zoo.download(args.name, folder=args.dir, progress=not args.no_progress)
    except (zoo.ZooError, CheckpointError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2 if isinstance(e, zoo.ZooError) else 1
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
