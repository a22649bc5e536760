"""Rewrite a SegNeXt checkpoint in our (= official) or MMSegmentation key layout.

``python tools/convert_checkpoint.py SRC DST [--layout ours|mmseg] [--format pth|safetensors]``

Accepts every layout ``mmseg.models.load_checkpoint`` reads (official, MMSegmentation, ImageNet MSCAN, wrapped or
not, ``module.`` prefixes, JSeg ``.pkl``, safetensors, http(s) URLs); writes ``{'meta': ..., 'state_dict': ...}``
as ``.pth`` or safetensors (meta as JSON strings in its metadata). Classes, palette and config are kept. The only
renaming is ``mlp.dwconv.dwconv.*`` (official/ours) ↔ ``mlp.dwconv.*`` (MMSegmentation), spec §6.3.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.models import CheckpointError, convert_checkpoint, detect_layout  # noqa: E402
from mmseg.utils import get_root_logger  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Convert a SegNeXt checkpoint between key layouts')
    p.add_argument('src', help='input checkpoint (.pth / .pkl / .safetensors / http(s) URL / model zoo name)')
    p.add_argument('dst', help='output file')
    p.add_argument('--format', choices=['pth', 'safetensors'], default=None,
                   help="output format (default: safetensors when DST ends with .safetensors, else pth)")
    p.add_argument('--layout', choices=['ours', 'official', 'mmseg'], default='ours',
                   help="'ours' and 'official' are the same layout")
    p.add_argument('--unsafe-load', action='store_true',
                   help='torch.load with weights_only=False (only for files you trust)')
    args = p.parse_args(argv)
    if osp.abspath(args.src) == osp.abspath(args.dst):
        p.error('DST must differ from SRC (the source is never overwritten)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.models.zoo import ZooError, resolve_checkpoint
    try:
        state_dict = convert_checkpoint(resolve_checkpoint(args.src), args.dst, layout=args.layout,
                                        weights_only=not args.unsafe_load, fmt=args.format)
    except (CheckpointError, ZooError) as e:  # unknown name, unreadable, refused (code in it), not SegNeXt weights
        raise SystemExit(f'error: {e}') from None
    get_root_logger().info('wrote %s: %d tensors, layout %s (detected: %s)', args.dst, len(state_dict),
                           args.layout, detect_layout(state_dict))
    return 0


if __name__ == '__main__':
    sys.exit(main())
