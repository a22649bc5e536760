"""Export a segmentor to ONNX and check it against PyTorch with onnxruntime (CPU).

``python tools/export_onnx.py CONFIG CKPT --shape 512 512 [--dynamic] [--out model.onnx] [--opset 17]``

The graph is whole-image ``forward_dummy`` (backbone → head → bilinear upsample to the input size) in eval mode,
returning logits (``--output logits``), softmax probabilities (``probs``) or the argmax class map (``labels``).
The NMF uses its deterministic eval bases (a constant in the graph), so the export has no random op; the tool
asserts that, runs ``onnx.checker``, then compares onnxruntime with PyTorch and fails when max |Δ| > 1e-3 or the
argmax agreement < 99.9 %. Needs ``pip install -e .[deploy]`` (onnx, onnxruntime, onnxscript).
"""
import argparse
import os
import os.path as osp
import sys
import warnings
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mmseg.utils import DictAction, get_root_logger  # noqa: E402

MAX_ABS_DIFF = 1e-3
MIN_AGREEMENT = 0.999
RANDOM_OPS = {'RandomUniform', 'RandomUniformLike', 'RandomNormal', 'RandomNormalLike', 'Multinomial', 'Bernoulli'}
STANDARD_DOMAINS = {'', 'ai.onnx'}


class ExportError(RuntimeError):
    """The exported graph is not what was asked for or disagrees with PyTorch."""


class ExportWrapper(nn.Module):
    """``forward(img (B, 3, H, W))`` → logits / probabilities (B, K, H, W) or labels (B, H, W) int64."""

    def __init__(self, segmentor: nn.Module, output: str = 'logits'):
        super().__init__()
        if output not in ('logits', 'probs', 'labels'):
            raise ValueError(f"output must be 'logits', 'probs' or 'labels', got '{output}'")
        self.segmentor = segmentor
        self.output = output

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        logits = self.segmentor.forward_dummy(img)
        if self.output == 'probs':
            return F.softmax(logits, dim=1)
        if self.output == 'labels':
            return logits.argmax(dim=1)
        return logits


def prepare(model: nn.Module) -> nn.Module:
    """Eval mode with deterministic NMF bases (an 'official' per-call random draw cannot be exported)."""
    model.eval()
    nmf = getattr(model.decode_head, 'nmf', None)
    if nmf is not None and nmf.eval_bases != 'deterministic':
        get_root_logger().warning("export: switching the NMF from '%s' to 'deterministic' eval bases "
                                  '(a random draw per call cannot be exported)', nmf.eval_bases)
        nmf.eval_bases = 'deterministic'
    return model


def export(model: nn.Module, shape: Tuple[int, int], out: str, opset: int = 17, dynamic: bool = False,
           output: str = 'logits', exporter: str = 'dynamo') -> str:
    """Write ``out`` (the wrapper of ``model`` traced on a (1, 3, H, W) input); returns ``out``."""
    wrapper = ExportWrapper(prepare(model), output).eval()
    img = torch.randn(1, 3, *shape)
    out_dims = {0: 'batch', 1: 'height', 2: 'width'} if output == 'labels' else \
        {0: 'batch', 2: 'height', 3: 'width'}
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', category=DeprecationWarning)  # the TorchScript exporter's notice
        if exporter == 'dynamo':
            try:
                import onnxscript  # noqa: F401
            except ImportError as e:
                raise ImportError("the 'dynamo' exporter needs onnxscript: pip install -e .[deploy] "
                                  "(or use --exporter torchscript)") from e
            dyn = {'img': {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}} if dynamic else None
            program = torch.onnx.export(wrapper, (img,), dynamo=True, opset_version=opset, input_names=['img'],
                                        output_names=[output], dynamic_shapes=dyn, external_data=False)
            program.save(out)
        elif exporter == 'torchscript':
            torch.onnx.export(wrapper, (img,), out, dynamo=False, opset_version=opset, input_names=['img'],
                              output_names=[output], do_constant_folding=True,
                              dynamic_axes={'img': {0: 'batch', 2: 'height', 3: 'width'}, output: out_dims}
                              if dynamic else None)
        else:
            raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got '{exporter}'")
    return out


def check_graph(path: str) -> List[str]:
    """onnx.checker plus: no random op, no op outside the standard ONNX domain. Returns the op types used."""
    import onnx
    model = onnx.load(path)
    ops, bad_random, bad_domain = set(), set(), set()

    def visit(graph) -> None:
        for node in graph.node:
            ops.add(node.op_type)
            if node.op_type in RANDOM_OPS:
                bad_random.add(node.op_type)
            if node.domain not in STANDARD_DOMAINS:
                bad_domain.add(f'{node.domain}::{node.op_type}')
            for attr in node.attribute:  # If/Loop bodies
                for sub in ([attr.g] if attr.HasField('g') else []) + list(attr.graphs):
                    visit(sub)
    visit(model.graph)
    local_functions = {f.name for f in model.functions}
    bad_domain = {d for d in bad_domain if d.split('::')[1] not in local_functions}
    if bad_random:
        raise ExportError(f'{path}: random ops in the graph: {sorted(bad_random)} (NMF bases not deterministic?)')
    if bad_domain:
        raise ExportError(f'{path}: ops outside the standard ONNX domain (device/runtime specific): '
                          f'{sorted(bad_domain)}')
    onnx.checker.check_model(model, full_check=True)
    return sorted(ops)


def compare(model: nn.Module, path: str, shapes: Sequence[Tuple[int, int]], output: str = 'logits',
            batch: int = 1, seed: int = 0) -> List[Dict]:
    """Run onnxruntime (CPU) and PyTorch on the same random inputs; one dict per shape with ``max_abs_diff``
    (None for labels) and ``agreement`` (fraction of pixels with the same argmax)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    wrapper = ExportWrapper(prepare(model), 'logits').eval()
    g = torch.Generator().manual_seed(seed)
    results = []
    for shape in shapes:
        img = torch.randn(batch, 3, *shape, generator=g)
        with torch.no_grad():
            ref_logits = wrapper(img)
        got = session.run(None, {session.get_inputs()[0].name: img.numpy()})[0]
        ref = {'logits': ref_logits, 'probs': F.softmax(ref_logits, dim=1)}.get(output)
        if output == 'labels':
            got_labels, max_abs = torch.from_numpy(got), None
        else:
            if got.shape != tuple(ref.shape):
                raise ExportError(f'{path}: onnxruntime output shape {got.shape} != PyTorch {tuple(ref.shape)}')
            got_t = torch.from_numpy(got)
            max_abs = float((got_t - ref).abs().max())
            got_labels = got_t.argmax(dim=1)
        agreement = float((got_labels == ref_logits.argmax(dim=1)).double().mean())
        results.append(dict(shape=list(shape), batch=batch, max_abs_diff=max_abs, agreement=agreement))
    return results


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Export a segmentor to ONNX and verify it with onnxruntime')
    p.add_argument('config', help='config file path')
    p.add_argument('checkpoint', help='checkpoint file (any supported layout)')
    p.add_argument('--shape', type=int, nargs='+', default=[512, 512], help='export input H W (one = square)')
    p.add_argument('--dynamic', action='store_true', help='dynamic batch, height and width')
    p.add_argument('--verify-shapes', type=int, nargs='+',
                   help='H W pairs to verify a --dynamic export at (default: the export shape and one other)')
    p.add_argument('--out', default='model.onnx')
    p.add_argument('--opset', type=int, default=17)
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
