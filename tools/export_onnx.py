"""Export a segmentor to ONNX and check it against PyTorch with onnxruntime (CPU).

``python tools/export_onnx.py CONFIG CKPT --shape 512 512 [--dynamic] [--out model.onnx] [--opset N]``

The graph is whole-image ``forward_dummy`` (backbone → head → bilinear upsample to the input size) in eval mode,
returning logits (``--output logits``), softmax probabilities (``probs``) or the argmax class map (``labels``).
The NMF uses its deterministic eval bases (a constant in the graph), so the export has no random op; the tool
asserts that, runs ``onnx.checker``, then compares onnxruntime with PyTorch and fails when max |Δ| > 1e-3 or the
argmax agreement < 99.9 %. The export logic lives in ``mmseg.deploy.onnx_export`` (the onnxruntime backend of
``init_segmentor(..., backend='onnxruntime')`` uses it too). Needs ``pip install -e .[deploy]`` (onnx, onnxruntime,
onnxscript).
"""
import argparse
import os.path as osp
import sys
from typing import List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mmseg.deploy.onnx_export import (MAX_ABS_DIFF, MIN_AGREEMENT, RANDOM_OPS, ExportError,  # noqa: E402,F401
                                      ExportWrapper, check_graph, compare, export, prepare)
from mmseg.utils import DictAction, get_root_logger  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Export a segmentor to ONNX and verify it with onnxruntime')
    p.add_argument('config', help='config file path')
    p.add_argument('checkpoint', help='checkpoint file (any supported layout)')
    p.add_argument('--shape', type=int, nargs='+', default=[512, 512], help='export input H W (one = square)')
    p.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    p.add_argument('--verify-shapes', type=int, nargs='+',
                   help='H W pairs to verify a --dynamic export at (default: the export shape and one other)')
    p.add_argument('--out', default='model.onnx')
    p.add_argument('--opset', type=int,
                   help='ONNX opset (default: 18 with the dynamo exporter, 17 with torchscript: what each implements)')
    p.add_argument('--output', choices=['logits', 'probs', 'labels'], default='logits')
    p.add_argument('--exporter', choices=['dynamo', 'torchscript'], default='dynamo',
                   help="torch.onnx exporter: 'dynamo' (torch.export, needs onnxscript) or the legacy 'torchscript'")
    p.add_argument('--skip-verify', action='store_true', help='only export and check the graph')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if len(args.shape) == 1:
        args.shape = args.shape * 2
    if len(args.shape) != 2 or min(args.shape) < 32:
        p.error(f'--shape takes 1 or 2 ints >= 32, got {args.shape}')
    if args.verify_shapes and len(args.verify_shapes) % 2:
        p.error('--verify-shapes takes H W pairs')
    return args


def verify_shapes(args: argparse.Namespace) -> List[Tuple[int, int]]:
    if args.verify_shapes:
        vs = args.verify_shapes
        return [(vs[i], vs[i + 1]) for i in range(0, len(vs), 2)]
    h, w = args.shape
    return [(h, w)] + ([(h + 32, w - 32 if w > 64 else w + 64)] if args.dynamic else [])


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis import init_segmentor
    logger = get_root_logger()
    model = init_segmentor(args.config, args.checkpoint, 'cpu', args.cfg_options, fuse=False)
    export(model, tuple(args.shape), args.out, args.opset, args.dynamic, args.output, args.exporter)
    ops = check_graph(args.out)
    logger.info('exported %s (%d op types: %s)', args.out, len(ops), ', '.join(ops))
    if args.skip_verify:
        return 0
    failures = []
    for r in compare(model, args.out, verify_shapes(args), args.output):
        diff = 'n/a' if r['max_abs_diff'] is None else f"{r['max_abs_diff']:.3g}"
        print(f"onnxruntime vs PyTorch at {r['shape'][0]}x{r['shape'][1]}: max |Δ| {args.output} = {diff}, "
              f"argmax agreement = {100 * r['agreement']:.3f} %")
        if r['max_abs_diff'] is not None and r['max_abs_diff'] > MAX_ABS_DIFF:
            failures.append(f"max |Δ| {r['max_abs_diff']:.3g} > {MAX_ABS_DIFF} at {r['shape']}")
        if r['agreement'] < MIN_AGREEMENT:
            failures.append(f"argmax agreement {100 * r['agreement']:.3f} % < {100 * MIN_AGREEMENT} % at "
                            f"{r['shape']}")
    if failures:
        raise ExportError(f'{args.out} disagrees with PyTorch: ' + '; '.join(failures))
    return 0


if __name__ == '__main__':
    sys.exit(main())
