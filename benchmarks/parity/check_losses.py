"""Values and gradients of our losses against MMSegmentation 0.24.1's loss modules, run in another process.

The reference side runs 0.24.1's own ``mmseg/models/losses`` source (from the wheel, unpacked by
``benchmarks/parity/mmseg0241_env.sh``) in a venv with torch and numpy only. The few mmcv 1.x names those modules
import are stubbed (``_install_mmcv_stub``): ``mmcv.load``, ``mmcv.is_list_of`` and ``mmcv.ops.sigmoid_focal_loss``,
written from the formulas of mmcv's CUDA kernel (``sigmoid_focal_loss_cuda_kernel.cuh``) in numpy, so that 0.24.1's
CUDA-path wrapper (``focal_loss.sigmoid_focal_loss``: α-list doubling, weights, reduction) can run on CPU.

Every case draws float32 logits with ignore pixels from a fixed seed; both sides compute the loss and the gradient
of ``sum(loss · upstream)`` with respect to the logits.

Run from the repository root:
    python benchmarks/parity/check_losses.py --ref-python /work/envs/mmseg0241/venv/bin/python \
        --ref-src /work/envs/mmseg0241/src [--write-fixtures tests/fixtures/losses_0241]
Prints max |Δ| per case for values and gradients; exits 1 when one exceeds float32 rounding.
"""
import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHAPE = (2, 4, 5, 7)  # B, C, H, W: small fixtures, enough pixels for sorting and averaging to matter


def _case(name, cfg, labels='index', call=None, path='module', shape=SHAPE, ignore=0.2, extreme=False, inputs=None):
    """``inputs``: cases with the same name draw the same inputs (default: the case's own name)."""
    return dict(name=name, cfg=cfg, labels=labels, call=call or dict(ignore_index=255), path=path,
                shape=list(shape), ignore=ignore, extreme=extreme, inputs=inputs or name)


CE, DICE, FOCAL, LOVASZ = 'CrossEntropyLoss', 'DiceLoss', 'FocalLoss', 'LovaszLoss'
ONE = (SHAPE[0], 1) + SHAPE[2:]
CASES = {
    'ce': [
        _case('softmax', dict(type=CE)),
        _case('softmax_avg_non_ignore_cw', dict(type=CE, avg_non_ignore=True, class_weight=[0.5, 1.0, 2.0, 3.0])),
        _case('softmax_sum', dict(type=CE, reduction='sum', loss_weight=0.5)),
        _case('softmax_none', dict(type=CE, reduction='none', class_weight=[1.0, 0.2, 1.0, 4.0])),
        _case('sigmoid_onehot', dict(type=CE, use_sigmoid=True)),
        _case('sigmoid_onehot_avg_non_ignore', dict(type=CE, use_sigmoid=True, avg_non_ignore=True)),
        _case('sigmoid_onehot_none', dict(type=CE, use_sigmoid=True, reduction='none')),
        _case('sigmoid_one_channel', dict(type=CE, use_sigmoid=True), labels='binary', shape=ONE),
        _case('sigmoid_one_channel_pos_weight', dict(type=CE, use_sigmoid=True, avg_non_ignore=True,
                                                     class_weight=[2.5]), labels='binary', shape=ONE),
        _case('sigmoid_multilabel', dict(type=CE, use_sigmoid=True), labels='multilabel'),
        _case('sigmoid_multilabel_avg_non_ignore', dict(type=CE, use_sigmoid=True, avg_non_ignore=True,
                                                        loss_weight=2.0), labels='multilabel'),
        _case('mask', dict(type=CE, use_mask=True), labels='mask', call=dict(ignore_index=None)),
    ],
    'dice': [
        _case('default', dict(type=DICE)),
        _case('weighted', dict(type=DICE, smooth=0.5, exponent=3, class_weight=[1.0, 2.0, 0.5, 1.5],
                               loss_weight=3.0)),
        _case('no_ignore', dict(type=DICE, exponent=1), ignore=0.0),
        _case('two_class', dict(type=DICE), labels='binary', shape=(2, 2, 5, 7)),
    ],
    'focal': [
        _case('cpu_default', dict(type=FOCAL)),
        _case('cpu_alpha_list_cw', dict(type=FOCAL, gamma=1.5, alpha=[0.25, 0.5, 0.75, 0.4],
                                        class_weight=[1.0, 2.0, 0.5, 1.0])),
        _case('cpu_sum', dict(type=FOCAL, reduction='sum', loss_weight=0.5)),
        _case('cpu_none', dict(type=FOCAL, reduction='none')),
        _case('cpu_multilabel', dict(type=FOCAL, alpha=0.25), labels='multilabel01'),
        _case('cuda_default', dict(type=FOCAL), path='focal_cuda'),
        _case('cuda_alpha_list_cw', dict(type=FOCAL, gamma=1.5, alpha=[0.25, 0.5, 0.75, 0.4],
                                         class_weight=[1.0, 2.0, 0.5, 1.0]), path='focal_cuda'),
        _case('cuda_extreme_logits', dict(type=FOCAL), path='focal_cuda', extreme=True, inputs='extreme'),
        _case('cpu_extreme_logits', dict(type=FOCAL), extreme=True, inputs='extreme'),
    ],
    'lovasz': [
        _case('softmax_present', dict(type=LOVASZ, reduction='none')),
        _case('softmax_all_per_image_cw', dict(type=LOVASZ, classes='all', per_image=True,
                                               class_weight=[1.0, 0.5, 2.0, 1.0])),
        _case('softmax_list_per_image_sum', dict(type=LOVASZ, classes=[0, 2], per_image=True, reduction='sum')),
        _case('hinge', dict(type=LOVASZ, loss_type='binary', reduction='none'), labels='binary', shape=ONE),
        _case('hinge_per_image', dict(type=LOVASZ, loss_type='binary', per_image=True, loss_weight=0.7),
              labels='binary', shape=ONE),
    ],
}
# Cases where 0.24.1's CPU and CUDA paths differ and we follow the CUDA kernel: gated on the CUDA case's numbers
# (same inputs); the difference to the CPU path is reported, not gated
FOLLOWS = {('focal', 'cpu_extreme_logits'): 'cuda_extreme_logits'}


def make_inputs(case, family):
    """float32 logits (B, C, H, W) and the target of the case's kind, with ``ignore`` of the pixels set to 255."""
    rs = np.random.RandomState(zlib.crc32(f"{family}/{case['inputs']}".encode()))
    b, c, h, w = case['shape']
    pred = (rs.randn(b, c, h, w) * 2).astype(np.float32)
    if case['extreme']:  # a few logits far beyond the float32 range where 1 - sigmoid(x) rounds to 0
        pred.reshape(-1)[rs.choice(pred.size, 12, replace=False)] = rs.choice([-40., -20., 20., 40.], 12)
    ignored = rs.rand(b, h, w) < case['ignore']
    kind = case['labels']
    extra = {}
    if kind == 'index':
        target = rs.randint(0, c, (b, h, w))
    elif kind == 'binary':
        target = rs.randint(0, 2, (b, h, w))
    elif kind in ('multilabel', 'multilabel01'):
        target = rs.randint(0, 2, (b, c, h, w))
        if kind == 'multilabel':  # ignore single elements, as the sigmoid loss allows
            target[rs.rand(b, c, h, w) < case['ignore']] = 255
        ignored = None
    elif kind == 'mask':
        target = rs.rand(b, h, w).astype(np.float32)
        extra['mask_labels'] = rs.randint(0, c, (b,))
        ignored = None
    else:
        raise ValueError(kind)
    if ignored is not None:
        target[ignored] = 255
    target = target if target.dtype == np.float32 else target.astype(np.int64)
    upstream = rs.rand(b, c, h, w).astype(np.float32)
    return pred, target, upstream, extra


def case_key(family, case):
    return f"{family}/{case['name']}"


# ---------------------------------------------------------------------------------------------- reference side
def _install_mmcv_stub():
    """``mmcv`` with the names 0.24.1's loss modules import, and the registry module they register into."""
    import pickle
    import types

    import torch

    mmcv = types.ModuleType('mmcv')

    def load(path):
        if str(path).endswith('.json'):
            with open(path) as f:
                return json.load(f)
        with open(path, 'rb') as f:
            return pickle.load(f)  # the reference side only reads fixtures this script wrote

    mmcv.load = load
    mmcv.is_list_of = lambda seq, t: isinstance(seq, list) and all(isinstance(x, t) for x in seq)
    ops = types.ModuleType('mmcv.ops')

    class KernelFocal(torch.autograd.Function):
        """mmcv's sigmoid_focal_loss CUDA kernel, elementwise in float32 numpy (forward and closed-form backward)."""

        @staticmethod
        def forward(ctx, x, t, gamma, alpha, weight, reduction):
            assert weight is None and reduction == 'none'
            xs = x.detach().numpy().astype(np.float32)
            ts = t.numpy()
            flag_p = (ts[:, None] == np.arange(xs.shape[1])[None]).astype(np.float32)
            g, a, fmin = np.float32(gamma), np.float32(alpha), np.finfo(np.float32).tiny
            p = np.float32(1) / (np.float32(1) + np.exp(-xs))
            term_p = np.power(np.float32(1) - p, g) * np.log(np.maximum(p, fmin))
            term_n = np.power(p, g) * np.log(np.maximum(np.float32(1) - p, fmin))
            out = -flag_p * a * term_p - (1 - flag_p) * (np.float32(1) - a) * term_n
            gp = np.power(np.float32(1) - p, g) * (np.float32(1) - p - g * p * np.log(np.maximum(p, fmin)))
            gn = np.power(p, g) * (g * (np.float32(1) - p) * np.log(np.maximum(np.float32(1) - p, fmin)) - p)
            ctx.grad = torch.from_numpy((-flag_p * a * gp - (1 - flag_p) * (np.float32(1) - a) * gn)
                                        .astype(np.float32))
            return torch.from_numpy(out.astype(np.float32))

        @staticmethod
        def backward(ctx, grad_out):
            return ctx.grad * grad_out, None, None, None, None, None

    ops.sigmoid_focal_loss = KernelFocal.apply
    mmcv.ops = ops
    sys.modules['mmcv'] = mmcv
    sys.modules['mmcv.ops'] = ops


def _import_reference(src):
    import types

    _install_mmcv_stub()
    root = Path(src) / 'mmseg'
    for name, path in (('mmseg', root), ('mmseg.models', root / 'models')):
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules[name] = mod
    builder = types.ModuleType('mmseg.models.builder')

    class _Registry:
        def register_module(self, *a, **k):
            return lambda cls: cls

    builder.LOSSES = _Registry()
    sys.modules['mmseg.models.builder'] = builder
    import importlib
    return importlib.import_module('mmseg.models.losses')


def _reference_focal_cuda(losses, cfg, pred, target, call):
    """0.24.1's FocalLoss.forward CUDA branch for class index targets, on CPU (the kernel is the stub)."""
    import torch
    import torch.nn.functional as F
    ignore_index = call.get('ignore_index', 255)
    c = pred.size(1)
    flat = pred.transpose(0, 1).reshape(c, -1).transpose(0, 1).contiguous()
    t = target.view(-1).contiguous()
    valid_mask = (t != ignore_index).view(-1, 1)
    t = torch.where(t == ignore_index, t.new_tensor(0), t)
    kw = {k: v for k, v in cfg.items() if k != 'type'}
    loss_weight = float(kw.get('loss_weight', 1.0))
    return loss_weight * losses.focal_loss.sigmoid_focal_loss(
        flat, t, F.one_hot(t, num_classes=c), None, gamma=float(kw.get('gamma', 2.0)), alpha=kw.get('alpha', 0.5),
        class_weight=kw.get('class_weight'), valid_mask=valid_mask, reduction=kw.get('reduction', 'mean'),
        avg_factor=None)


def run_reference(src, out_path):
    import torch
    torch.use_deterministic_algorithms(True)
    losses = _import_reference(src)
    results = {}
    for family, cases in CASES.items():
        for case in cases:
            pred_np, target_np, upstream, extra = make_inputs(case, family)
            pred = torch.from_numpy(pred_np).requires_grad_(True)
            target = torch.from_numpy(target_np)
            call = dict(case['call'])
            if 'mask_labels' in extra:
                call['weight'] = torch.from_numpy(extra['mask_labels'])
            cfg = dict(case['cfg'])
            if case['path'] == 'focal_cuda':
                value = _reference_focal_cuda(losses, cfg, pred, target, call)
            else:
                loss = getattr(losses, cfg.pop('type'))(**cfg)
                value = loss(pred, target, **call)
            up = torch.from_numpy(upstream)
            scalar = (value * up.reshape(value.shape)).sum() if value.dim() and value.shape == pred.shape \
                else value.sum()
            grad, = torch.autograd.grad(scalar, pred)
            key = case_key(family, case)
            results[key + '/pred'] = pred_np
            results[key + '/target'] = target_np
            results[key + '/upstream'] = upstream
            for k, v in extra.items():
                results[key + '/' + k] = v
            results[key + '/value'] = value.detach().numpy()
            results[key + '/grad'] = grad.numpy()
    files = sorted((Path(src) / 'mmseg/models/losses').glob('*.py'))
    digest = hashlib.sha256(b''.join(f.read_bytes() for f in files)).hexdigest()
    results['meta'] = np.array(json.dumps(dict(torch=torch.__version__, losses_sha256=digest, cases=CASES)))
    np.savez_compressed(out_path, **results)


# ---------------------------------------------------------------------------------------------- our side
def ours(family, case, data):
    """Our value and gradient for a case, from the inputs stored in ``data`` (a dict of arrays)."""
    import torch

    import mmseg.models  # noqa: F401  (registers the losses)
    from mmseg.registry import LOSSES
    key = case_key(family, case)
    pred = torch.from_numpy(np.array(data[key + '/pred'])).requires_grad_(True)
    target = torch.from_numpy(np.array(data[key + '/target']))
    call = dict(case['call'])
    if key + '/mask_labels' in data:
        call['weight'] = torch.from_numpy(np.array(data[key + '/mask_labels']))
    value = LOSSES.build(dict(case['cfg']))(pred, target, **call)
    up = torch.from_numpy(np.array(data[key + '/upstream']))
    scalar = (value * up.reshape(value.shape)).sum() if value.dim() and value.shape == pred.shape else value.sum()
    grad, = torch.autograd.grad(scalar, pred)
    return value.detach().numpy(), grad.numpy()


def tolerance(ref: np.ndarray) -> float:
    """float32 rounding of a result of this magnitude, after sums over a few hundred elements."""
    return 2e-6 + 1e-5 * float(np.abs(ref).max(initial=0.0))


def max_deltas(value, grad, data, key):
    ref_v, ref_g = np.array(data[key + '/value']), np.array(data[key + '/grad'])
    dv = float(np.abs(value.reshape(ref_v.shape) - ref_v).max(initial=0.0))
    dg = float(np.abs(grad - ref_g).max(initial=0.0))
    return dv, dg, dv <= tolerance(ref_v) and dg <= tolerance(ref_g)


def compare(data):
    """Rows (family, case, max |Δ| value, max |Δ| grad, ok, note)."""
    rows = []
    for family, cases in CASES.items():
        for case in cases:
            value, grad = ours(family, case, data)
            followed = FOLLOWS.get((family, case['name']))
            dv, dg, ok = max_deltas(value, grad, data, f'{family}/{followed}' if followed else case_key(family, case))
            note = ''
            if followed:
                own_v, own_g, _ = max_deltas(value, grad, data, case_key(family, case))
                note = f'vs {followed}; vs 0.24.1 CPU path: {own_v:.3g} / {own_g:.3g}'
            rows.append((family, case['name'], dv, dg, ok, note))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--ref-python', help="python of the 0.24.1 env (benchmarks/parity/mmseg0241_env.sh)")
    ap.add_argument('--ref-src', default='/work/envs/mmseg0241/src', help='unpacked 0.24.1 wheel (holds mmseg/)')
    ap.add_argument('--write-fixtures', help='also save the reference numbers as <dir>/losses_0241.npz')
    ap.add_argument('--reference-only', metavar='OUT', help=argparse.SUPPRESS)  # the worker inside the ref env
    args = ap.parse_args(argv)
    if args.reference_only:
        run_reference(args.ref_src, args.reference_only)
        return 0
    if not args.ref_python:
        ap.error('--ref-python is required')
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / 'ref.npz'
        subprocess.run([args.ref_python, '-I', str(Path(__file__).resolve()), '--ref-src', args.ref_src,
                        '--reference-only', str(out)], check=True, timeout=600)
        data = dict(np.load(out))
        if args.write_fixtures:
            Path(args.write_fixtures).mkdir(parents=True, exist_ok=True)
            np.savez_compressed(Path(args.write_fixtures) / 'losses_0241.npz', **data)
    sys.path.insert(0, str(REPO))
    rows = compare(data)
    print(f"{'loss':8s} {'case':34s} {'max|Δ| value':>13s} {'max|Δ| grad':>13s}")
    for family, name, dv, dg, ok, note in rows:
        print(f"{family:8s} {name:34s} {dv:13.3e} {dg:13.3e}{'' if ok else '  FAIL'} {note}")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
