"""Count parameters and MACs of a config's model: ``python tools/get_flops.py CONFIG --shape 512 512``.

``--shape H W`` (one value = square; default 2048 1024, i.e. H=2048, W=1024, as the official tool). The count is
``torchprofile.profile_macs`` of ``forward_dummy`` (backbone → head → upsample to the input size) in eval mode on
CPU: the convention of the numbers the SegNeXt paper and official README call "GFLOPs" (spec §4.3, §7).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.utils import DictAction  # noqa: E402

NOTE = ('Note: the SegNeXt paper and official README report these MACs as "GFLOPs" (torchprofile counts '
        'multiply-accumulates); FLOPs = 2 x MACs is the other common convention.')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Parameters and MACs (torchprofile) of a segmentor')
    p.add_argument('config', help='config file path')
    p.add_argument('--shape', type=int, nargs='+', default=[2048, 1024],
                   help='input H W (one value = square); default 2048 1024 as the official tool')
    part = p.add_mutually_exclusive_group()
    part.add_argument('--backbone-only', action='store_true', help='count the backbone alone')
    part.add_argument('--head-only', action='store_true', help='count the decode head alone (stride-8 logits)')
    p.add_argument('--breakdown', action='store_true', help='also print backbone / head / rest and per operator')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if len(args.shape) == 1:
        args.shape = args.shape * 2
    if len(args.shape) != 2 or min(args.shape) < 1:
        p.error(f'--shape takes 1 or 2 positive ints, got {args.shape}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis import init_segmentor
    from mmseg.utils.flops import count_macs, count_parameters

    model = init_segmentor(args.config, None, 'cpu', args.cfg_options, fuse=False)  # the paper's architecture
    part = 'backbone' if args.backbone_only else 'head' if args.head_only else 'all'
    counted = {'backbone': model.backbone, 'head': model.decode_head, 'all': model}[part]
    n_params = count_parameters(counted)
    start = time.perf_counter()
    report = count_macs(model, args.shape, part=part)
    elapsed = time.perf_counter() - start

    H, W = args.shape
    line = '=' * 60
    print(line)
    print(f'Config:       {args.config}')
    print(f'Part:         {part}  (forward_dummy, eval mode, CPU)')
    print(f'Input shape:  (1, 3, {H}, {W})  (H={H}, W={W})')
    print(f'Params:       {n_params / 1e6:.3f} M  ({n_params:,})')
    print(f'MACs:         {report.gmacs:.2f} G  ({report.total:,})')
    print(f'FLOPs:        {report.gflops:.2f} G  (= 2 x MACs)')
    if args.breakdown and part == 'all':
        backbone = count_macs(model, args.shape, part='backbone').total
        head = count_macs(model, args.shape, part='head').total
        print(f'  backbone    {backbone / 1e9:10.2f} GMACs')
        print(f'  head        {head / 1e9:10.2f} GMACs')
        print(f'  rest        {(report.total - backbone - head) / 1e9:10.2f} GMACs (final upsample)')
    if args.breakdown:
        for op, macs in sorted(report.by_operator.items(), key=lambda kv: -kv[1]):
            print(f'  {op:28s}{macs / 1e9:10.4f} GMACs')
    if report.uncounted:
        print(f'Operators without a torchprofile handler (counted 0): {", ".join(report.uncounted)}')
    print(NOTE)
    print(f'(counted in {elapsed:.1f} s)')
    print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
