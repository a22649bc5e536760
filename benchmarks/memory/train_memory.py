"""Training memory of SegNeXt: peak RSS side by side with MMSegmentation 1.2.2, and bytes saved for backward.

Run from the repository root with OUR venv (the reference venv comes from benchmarks/reference_env.sh):

    python benchmarks/memory/train_memory.py --rss --variants t b --threads 2      # peak RSS vs the reference
    python benchmarks/memory/train_memory.py --saved --variants t s b l             # saved-for-backward table

``--rss``: every setting runs in a fresh worker process (benchmarks/speed/worker.py, the speed benchmark's harness:
same seeded weights, input and AdamW step on both sides) that does two training steps (the second with the
optimizer state allocated) at batch ``--batch`` and 512×512, then reports its RSS high-water mark (VmHWM).
Settings: the reference, ours as tools/train.py trains on CPU (channels-last, the lean loss, malloc reuse), ours with
the plain resize + cross-entropy (``lean_loss=False``), ours with the low-memory recipe (mmseg.utils.low_memory:
with_cp + lean_loss + one_step_grad).

``--saved``: the bytes of the distinct tensors autograd keeps between forward and backward (parameters excluded:
they exist anyway), with the plain loss, by default and with the recipe, measured at batch ``--saved-batch`` and
scaled linearly to batch 2 and 16 (activations are per sample; the T row is also measured at batch 2 to check the
scaling). To judge whether a run fits a card, add parameters + gradients + AdamW state (16 bytes per parameter,
printed) and some transient headroom for the largest backward temporaries.
"""
import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks' / 'speed'))
RECIPE = ['with_cp', 'lean_loss', 'one_step_grad']
SIZES = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}
SETTINGS = ['MMSeg 1.2.2', 'ours', 'ours plain loss', 'ours low-memory']


def peak_rss(variant: str, args: argparse.Namespace, workdir: Path) -> List[Dict]:
    from bench_segnext import Worker, make_payload
    payload = workdir / f'payload_{variant}.pt'
    make_payload(variant, [512, 512], args.batch, payload)
    ours = dict(impl='ours', fuse=False, channels_last=True, malloc='reuse')
    settings = [('MMSeg 1.2.2', args.ref_python, dict(impl='ref', fuse=False)),
                ('ours', sys.executable, ours),
                ('ours plain loss', sys.executable, dict(ours, plain_loss=True)),
                ('ours low-memory', sys.executable, dict(ours, low_memory=RECIPE))]
    settings = [s for s in settings if s[0] in args.settings]
    rows = []
    for name, python, setup in settings:
        worker = Worker(name, python, dict(setup, mode='train', payload=str(payload), threads=args.threads))
        try:
            before = worker.ask(dict(cmd='maxrss'))['vmhwm_kib']
            worker.ask(dict(cmd='time', n=2))
            after = worker.ask(dict(cmd='maxrss'))['vmhwm_kib']
        finally:
            worker.close()
        rows.append(dict(variant=variant, setting=name, setup_mib=before / 1024, peak_mib=after / 1024))
        print(f'{variant.upper()}  {name:<16} peak RSS {after / 1024:8.0f} MiB   '
              f'(after setup {before / 1024:6.0f} MiB)', flush=True)
    ref = rows[0]['peak_mib'] if rows[0]['setting'] == 'MMSeg 1.2.2' else float('nan')
    for r in rows:
        r['ratio_vs_ref'] = r['peak_mib'] / ref
    return rows


def saved_bytes(model: torch.nn.Module, img: torch.Tensor, gt: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter storages saved for backward by one training forward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: Dict[int, int] = {}
    keep = []

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        keep.append(t)  # alive until the end, so a freed storage's address is never reused and counted twice
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.forward_train(img, [{}] * img.shape[0], gt)
    return sum(seen.values())


def saved_table(args: argparse.Namespace) -> List[Dict]:
    from mmseg.models import build_segmentor
    from mmseg.utils import Config
    from mmseg.utils.low_memory import apply_low_memory
    torch.set_num_threads(args.threads)
    rows = []
    for v in args.variants:
        cfg = Config.fromfile(f'local_configs/segnext/{SIZES[v]}/segnext.{SIZES[v]}.512x512.ade.160k.py')
        cfg['model']['backbone']['norm_cfg'] = dict(type='BN', requires_grad=True)  # one process: BN (the trainer)
        cfg['model']['backbone']['init_cfg'] = None
        row = dict(variant=v)
        for name in ('plain_loss', 'default', 'low_memory'):
            model_cfg = copy.deepcopy(cfg['model'])
            if name == 'plain_loss':  # the official op sequence: resize, then cross-entropy
                model_cfg['decode_head']['lean_loss'] = False
            if name == 'low_memory':
                apply_low_memory(dict(model=model_cfg))
            model = build_segmentor(model_cfg).train()
            n_params = sum(p.numel() for p in model.parameters())
            batches = [args.saved_batch] + ([2] if v == 't' and args.saved_batch != 2 else [])
            for b in batches:
                g = torch.Generator().manual_seed(0)
                img = torch.randn(b, 3, 512, 512, generator=g)
                gt = torch.randint(0, 150, (b, 1, 512, 512), generator=g)
                row[f'{name}_measured_b{b}'] = saved_bytes(model, img, gt)
            per_sample = row[f'{name}_measured_b{args.saved_batch}'] / args.saved_batch
            row[f'{name}_b2'] = per_sample * 2
            row[f'{name}_b16'] = per_sample * 16
            row['params'] = n_params
            del model
        rows.append(row)
        gib = 2 ** 30
        print(f"{v.upper()}: saved for backward, batch 2 / 16 (GiB): plain loss {row['plain_loss_b2'] / gib:.2f} / "
              f"{row['plain_loss_b16'] / gib:.2f}; default {row['default_b2'] / gib:.2f} / "
              f"{row['default_b16'] / gib:.2f}; low-memory {row['low_memory_b2'] / gib:.2f} / "
              f"{row['low_memory_b16'] / gib:.2f}; params+grads+AdamW {16 * row['params'] / gib:5.2f} GiB"
              + (f"; T measured at batch 2: default {row['default_measured_b2'] / gib:.2f}, low-memory "
                 f"{row['low_memory_measured_b2'] / gib:.2f} GiB" if 'default_measured_b2' in row and
                 args.saved_batch != 2 else ''), flush=True)
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--rss', action='store_true', help='peak RSS vs MMSegmentation 1.2.2 (fresh process each)')
    p.add_argument('--saved', action='store_true', help='saved-for-backward bytes per variant')
    p.add_argument('--variants', nargs='+', default=['t', 'b'], choices=sorted(SIZES))
    p.add_argument('--batch', type=int, default=2, help='batch of the --rss training steps')
    p.add_argument('--settings', nargs='+', default=SETTINGS, choices=SETTINGS, help='--rss settings to run')
    p.add_argument('--saved-batch', type=int, default=1, help='batch measured by --saved (scaled to 2 and 16)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--ref-python', default=str(REPO / '.ref_venv' / 'bin' / 'python'))
    p.add_argument('--json', help='also write the rows to this file')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.rss or args.saved):
        print('nothing to do: give --rss and/or --saved', file=sys.stderr)
        return 2
    if args.rss and not Path(args.ref_python).is_file():
        print(f'--ref-python {args.ref_python} not found; create it with benchmarks/reference_env.sh', file=sys.stderr)
        return 2
    results: Dict[str, list] = {}
    if args.rss:
        with tempfile.TemporaryDirectory(prefix='segnext_mem_') as tmp:
            results['rss'] = [r for v in args.variants for r in peak_rss(v, args, Path(tmp))]
        for r in results['rss']:
            print(f"{r['variant'].upper()} {r['setting']:<16} {r['peak_mib']:8.0f} MiB  {r['ratio_vs_ref']:.2f}x ref")
    if args.saved:
        results['saved'] = saved_table(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
