"""Numerical parity of our SegNeXt with MMSegmentation 1.2.2's (the reference), across two processes.

Both packages are called ``mmseg``, so the reference runs in its own venv and process
(``reference_runner.py``); this script runs in OUR venv.

Setup once (a few minutes, downloads torch):   benchmarks/reference_env.sh .ref_venv
Run (from the repository root):
    python benchmarks/parity/check_parity.py                          # T S B L, 256x320, batch 1
    python benchmarks/parity/check_parity.py --variants t --batch 2 --size 256 320
    python benchmarks/parity/check_parity.py --ref-python .ref_venv/bin/python --threads 2

For each variant: build our segmentor, fill every parameter with seeded random values (layer scales O(0.3) so the
attention branches matter), set the BN running stats from one train-mode pass over a separate random batch and
jitter them (random stats alone overflow fp32 in B/L's deep stages), convert our (official-key) state dict to the mmseg
1.x layout, run the reference on it, then compare
  * ``official`` mode (``nmf_eval_bases='official'``): ``torch.manual_seed(seed)`` right before each head
    forward, on the whole batch, for every ``--seeds`` value;
  * ``deterministic`` mode (our default): the whole batch at once; sample i is compared with the reference run
    on sample i alone (batch 1) seeded with the head's ``nmf_seed`` (our fixed bases are shared by every sample).
    Our global RNG is deliberately set to an unrelated seed first, to show it is not consulted.
Reports max|Δ| of the 4 backbone maps, the stride-8 logits and the input-size logits, argmax agreement,
and PASS/FAIL against an absolute 1e-5 (fp32). ``seedΔ`` is max|Δ| between the reference's stride-8 logits for
two different seeds: it must exceed 100x the tolerance (else the NMF bases would not matter and the official-mode
check would prove nothing; needs >= 2 ``--seeds``). Exits 1 on any failure.
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parent / 'reference_runner.py'
TOL = 1e-5

# Official SegNeXt ADE20K variants (spec §1.1, §2.1); B/L use the official MD_R=64, not mmseg 1.x's 16.
VARIANTS: Dict[str, dict] = {
    't': dict(embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2], drop_path_rate=0.1, channels=256, MD_R=16),
    's': dict(embed_dims=[64, 128, 320, 512], depths=[2, 2, 4, 2], drop_path_rate=0.1, channels=256, MD_R=16),
    'b': dict(embed_dims=[64, 128, 320, 512], depths=[3, 3, 12, 3], drop_path_rate=0.1, channels=512, MD_R=64),
    'l': dict(embed_dims=[64, 128, 320, 512], depths=[3, 5, 27, 3], drop_path_rate=0.3, channels=1024, MD_R=64),
}
MLP_RATIOS = [8, 8, 4, 4]
NUM_CLASSES = 150


def variant_parts(name: str) -> tuple:
    """(backbone kwargs, head kwargs) shared by our config and the reference payload."""
    if name not in VARIANTS:
        raise KeyError(f'unknown variant {name!r}; choose from {sorted(VARIANTS)}')
    v = VARIANTS[name]
    backbone = dict(embed_dims=list(v['embed_dims']), depths=list(v['depths']), mlp_ratios=list(MLP_RATIOS),
                    drop_rate=0.0, drop_path_rate=v['drop_path_rate'])
    head = dict(in_channels=list(v['embed_dims'][1:]), in_index=[1, 2, 3], channels=v['channels'],
                ham_channels=v['channels'], num_classes=NUM_CLASSES, MD_R=v['MD_R'], dropout_ratio=0.1)
    return backbone, head


CONFIG_NAMES = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}


def our_model_cfg(name: str, nmf_eval_bases: str = 'deterministic', nmf_seed: int = 0) -> dict:
    """Our model config, read from the shipped ADE20K config of the variant (BN instead of SyncBN, no pretrained
    file); checked against VARIANTS so the shipped configs are what this script proves."""
    from mmseg.utils import Config
    size = CONFIG_NAMES[name]
    path = REPO / 'local_configs' / 'segnext' / size / f'segnext.{size}.512x512.ade.160k.py'
    cfg = Config.fromfile(str(path)).to_dict()['model']
    cfg['backbone'].update(norm_cfg=dict(type='BN', requires_grad=True), init_cfg=None)
    cfg['decode_head'].update(nmf_eval_bases=nmf_eval_bases, nmf_seed=nmf_seed)
    backbone, head = variant_parts(name)
    shipped = dict(backbone={k: cfg['backbone'][k] for k in backbone},
                   head={k: cfg['decode_head'].get(k, cfg['decode_head']['ham_kwargs'].get(k)) for k in head})
    if shipped != dict(backbone=backbone, head=head):
        raise ValueError(f'{path} differs from the official variant: {shipped} vs {dict(backbone=backbone, head=head)}')
    return cfg


def randomize_state(state: Dict[str, torch.Tensor], seed: int) -> Dict[str, torch.Tensor]:
    """Seeded random values for every float tensor of a state dict; same keys, shapes and dtypes.

    Conv/linear weights ~ N(0, 1/fan_in) keep activations O(1) through deep stages; norm weights ~ 1 + N(0, .1²);
    BN running_var ~ U(0.5, 1.5) (positive); layer scales ~ N(0.3, 0.1²) so every residual branch matters.
    Integer buffers (num_batches_tracked) are kept. Keys are visited in sorted order for reproducibility.
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(state):
        ref = state[key]
        if not ref.is_floating_point():
            out[key] = ref.clone()
            continue
        shape = ref.shape
        leaf = key.rsplit('.', 1)[-1]
        if leaf == 'running_var':
            val = 0.5 + torch.rand(shape, generator=gen)
        elif leaf == 'running_mean':
            val = 0.1 * torch.randn(shape, generator=gen)
        elif leaf.startswith('layer_scale'):
            val = 0.3 + 0.1 * torch.randn(shape, generator=gen)
        elif leaf == 'weight' and len(shape) >= 2:
            fan_in = shape[1] * int(torch.tensor(shape[2:]).prod()) if len(shape) > 2 else shape[1]
            val = torch.randn(shape, generator=gen) / fan_in ** 0.5
        elif leaf == 'weight':  # BN / LN / GN affine scale
            val = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:  # biases and any other float tensor
            val = 0.1 * torch.randn(shape, generator=gen)
        out[key] = val.to(ref.dtype)
    return out


@torch.no_grad()
def calibrate_bn(backbone: torch.nn.Module, img: torch.Tensor, seed: int) -> None:
    """Set every BN's running stats to the batch stats of one train-mode pass over ``img``, then jitter them.

    Random running stats alone do not normalise, and the multiplicative MSCA gating then overflows fp32 in deep
    stages (B/L give inf/NaN); calibrated stats keep eval-mode activations O(1) as in a trained model.
    """
    bns = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: after one pass the running stats are that batch's stats
    backbone.train()
    backbone(img)
    backbone.eval()
    gen = torch.Generator().manual_seed(seed)
    for bn in bns:
        bn.momentum = 0.1
        bn.running_var.mul_(0.8 + 0.45 * torch.rand(bn.running_var.shape, generator=gen))
        bn.running_mean.add_(0.1 * bn.running_var.sqrt() * torch.randn(bn.running_mean.shape, generator=gen))


def get_converter() -> tuple:
    """Our package's layout converter; returns (fn, description)."""
    from mmseg.models import to_mmseg_layout
    return to_mmseg_layout, 'mmseg.models.to_mmseg_layout'


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        raise ValueError(f'shape mismatch: ours {tuple(a.shape)} vs reference {tuple(b.shape)}')
    return (a.double() - b.double()).abs().max().item()


def run_reference(ref_python: str, payload: dict, workdir: Path) -> dict:
    """Run reference_runner.py in the reference venv on ``payload``; return its output dict."""
    payload_path, out_path = workdir / 'payload.pt', workdir / 'reference_out.pt'
    torch.save(payload, payload_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
    # -I: isolated mode, so neither the cwd nor PYTHONPATH can put our `mmseg` first on sys.path.
    proc = subprocess.run([ref_python, '-I', str(RUNNER), str(payload_path), str(out_path)], env=env,
                          cwd=str(workdir), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'reference runner failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}')
    return torch.load(out_path, map_location='cpu', weights_only=False)


def build_ours(cfg: dict, state: Optional[Dict[str, torch.Tensor]]) -> torch.nn.Module:
    from mmseg.models import build_segmentor
    model = build_segmentor(copy.deepcopy(cfg))
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model.eval()


def compare(ours: dict, ref: dict) -> dict:
    """Row of max|Δ| numbers from two dicts with features (list), logits and upsampled tensors."""
    row = dict(feats=[max_abs(a, b) for a, b in zip(ours['features'], ref['features'])],
               logits=max_abs(ours['logits'], ref['logits']),
               upsampled=max_abs(ours['upsampled'], ref['upsampled']),
               argmax=(ours['upsampled'].argmax(1) == ref['upsampled'].argmax(1)).double().mean().item(),
               scale=ref['upsampled'].abs().max().item())
    row['pass'] = max(row['feats'] + [row['logits'], row['upsampled']]) <= TOL and row['argmax'] == 1.0
    return row


@torch.no_grad()
def head_outputs(model: torch.nn.Module, img: torch.Tensor, feats: List[torch.Tensor],
                 reseed: Optional[Callable[[], None]]) -> dict:
    """Stride-8 logits and input-size logits; ``reseed()`` runs right before each head forward."""
    metas = [dict(img_shape=(*img.shape[-2:], 3), ori_shape=(*img.shape[-2:], 3),
                  pad_shape=(*img.shape[-2:], 3), flip=False)] * img.shape[0]
    if reseed:
        reseed()
    logits = model.decode_head(feats)
    if reseed:
        reseed()
    upsampled = model.encode_decode(img, metas)
    return dict(logits=logits, upsampled=upsampled)


@torch.no_grad()
def check_variant(name: str, args: argparse.Namespace, converter: Callable) -> List[dict]:
    backbone_cfg, head_cfg = variant_parts(name)
    cfg_off = our_model_cfg(name, 'official', args.nmf_seed)
    cfg_det = our_model_cfg(name, 'deterministic', args.nmf_seed)
    gen = torch.Generator().manual_seed(args.input_seed)
    img = torch.randn((args.batch, 3, *args.size), generator=gen)
    # random weights, then BN stats calibrated on a separate random batch (drop path off: same keys)
    cfg_cal = copy.deepcopy(cfg_off)
    cfg_cal['backbone']['drop_path_rate'] = 0.0
    calib = build_ours(cfg_cal, None)
    calib.load_state_dict(randomize_state(calib.state_dict(), args.weight_seed), strict=True)
    calibrate_bn(calib.backbone, torch.randn((2, 3, *args.size), generator=gen), args.weight_seed)
    state = {k: v.clone() for k, v in calib.state_dict().items()}
    del calib

    cases = [dict(name='official', inputs=img, seeds=list(args.seeds))]
    # deterministic mode shares one fixed basis set across the batch: sample i must equal the reference run on
    # that sample alone (batch 1) seeded with nmf_seed
    cases += [dict(name=f'det{i}', inputs=img[i:i + 1].clone(), seeds=[args.nmf_seed]) for i in range(args.batch)]
    payload = dict(variant=name, backbone=backbone_cfg, head=head_cfg, state_dict=converter(state),
                   cases=cases, threads=args.threads)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix='parity_') as tmp:
        ref = run_reference(args.ref_python, payload, Path(tmp))
    t_ref = time.time() - t0

    rows = []
    t0 = time.time()
    model = build_ours(cfg_off, state)
    feats = model.backbone(img)
    for seed in args.seeds:
        out = head_outputs(model, img, feats, lambda s=seed: torch.manual_seed(s))
        ref_case = ref['cases']['official']
        r = compare(dict(features=feats, **out), dict(features=ref_case['features'], **ref_case['runs'][seed]))
        rows.append(dict(variant=name, mode='official', batch=args.batch, seed=seed, **r))

    model = build_ours(cfg_det, state)
    feats = model.backbone(img)
    torch.manual_seed(args.nmf_seed + 12345)  # unrelated global seed: deterministic mode must not read it
    out = head_outputs(model, img, feats, None)
    dets = [ref['cases'][f'det{i}'] for i in range(args.batch)]
    ref_det = dict(features=[torch.cat([d['features'][k] for d in dets]) for k in range(4)],
                   **{key: torch.cat([d['runs'][args.nmf_seed][key] for d in dets])
                      for key in ('logits', 'upsampled')})
    r = compare(dict(features=feats, **out), ref_det)
    rows.append(dict(variant=name, mode='deterministic', batch=args.batch, seed=args.nmf_seed, **r))
    # Teeth: the NMF bases must matter, or official-mode agreement across seeds would prove nothing.
    runs = ref['cases']['official']['runs']
    seed_delta = max((max_abs(runs[a]['logits'], runs[b]['logits']) for a in runs for b in runs if a < b),
                     default=float('nan'))
    for row in rows:
        row.update(t_ref=t_ref, t_ours=time.time() - t0, versions=ref['versions'], seed_delta=seed_delta)
        if not seed_delta > 100 * TOL:
            row['pass'] = False
    return rows


def format_table(rows: List[dict]) -> str:
    head = (f"{'var':<4}{'mode':<14}{'B':>2}{'seed':>5}  {'feat s1':>9}{'feat s2':>9}{'feat s3':>9}{'feat s4':>9}"
            f"{'logits':>10}{'upsamp':>10}{'max|ref|':>9}{'seedΔ':>9}{'argmax':>8}  result")
    lines = [head, '-' * len(head)]
    for r in rows:
        feats = ''.join(f'{d:9.1e}' for d in r['feats'])
        lines.append(f"{r['variant'].upper():<4}{r['mode']:<14}{r['batch']:>2}{r['seed']:>5}  {feats}"
                     f"{r['logits']:10.1e}{r['upsampled']:10.1e}{r['scale']:9.2f}{r['seed_delta']:9.1e}"
                     f"{100 * r['argmax']:7.2f}%  "
                     f"{'PASS' if r['pass'] else 'FAIL'}")
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--variants', nargs='+', default=['t', 's', 'b', 'l'], choices=sorted(VARIANTS))
    p.add_argument('--ref-python', default=str(REPO / '.ref_venv' / 'bin' / 'python'))
    p.add_argument('--size', nargs=2, type=int, default=[256, 320], metavar=('H', 'W'))
    p.add_argument('--batch', type=int, default=1, choices=[1, 2])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 7], help='official-mode head seeds')
    p.add_argument('--nmf-seed', type=int, default=0, help="our head's nmf_seed (deterministic mode)")
    p.add_argument('--weight-seed', type=int, default=1)
    p.add_argument('--input-seed', type=int, default=2)
    p.add_argument('--threads', type=int, default=1, help='torch threads, the same in both processes')
    args = p.parse_args(argv)
    if not Path(args.ref_python).is_file():
        p.error(f'--ref-python {args.ref_python} not found; create it with benchmarks/reference_env.sh')
    if any(s % 32 for s in args.size):
        p.error(f'--size {args.size}: both sides must be multiples of 32')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    torch.set_num_threads(args.threads)
    converter, conv_desc = get_converter()
    rows = []
    for name in args.variants:
        rows.extend(check_variant(name, args, converter))
        print(format_table(rows[-len(args.seeds) - 1:]).split('\n', 2)[-1], flush=True)
    v = rows[0]['versions']
    print(f"\nours: torch {torch.__version__}; reference: mmseg {v['mmseg']}, mmcv {v['mmcv']}, "
          f"mmengine {v['mmengine']}, torch {v['torch']}; threads {args.threads}; size {args.size[0]}x"
          f"{args.size[1]}; tol {TOL:g}; layout: {conv_desc}\n")
    print(format_table(rows))
    failed = [r for r in rows if not r['pass']]
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
