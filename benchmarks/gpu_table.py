"""The README's GPU table in one run: T/S/B/L × fp32/bf16 × eager/torch.compile × batch 1/16.

``python benchmarks/gpu_table.py [--json out.json]``            (one GPU, ≤ 8 minutes: ``--budget-s``)
``python benchmarks/gpu_table.py --device cpu --quick --shape 64`` (smoke test: T, eager, batch 1/2)

Per row: throughput (img/s), median latency per batch (ms) and peak memory (``torch.cuda.max_memory_allocated``; CPU:
the process's RSS high-water mark). The timed call is backbone → head → upsample to the input size (logits), random
weights, NMF deterministic bases; CUDA is synchronised around every call. Rows run cheapest first (eager before
compile, then by variant size), and once ``--budget-s`` is spent the remaining rows are printed as "skipped (budget)"
so that one run always ends in time. MMSegmentation 1.2.2's SegNeXt runs side by side (eager, fp32/bf16) when
``.ref_venv`` exists (``benchmarks/reference_env.sh``), in its own process; the published V100 latencies of the
official SegNeXt (fp32, batch 1, 512×512) are printed as a historical row.
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VARIANTS = {'T': 'tiny', 'S': 'small', 'B': 'base', 'L': 'large'}
V100_MS = {'T': 19.1, 'S': 23.7, 'B': 28.5, 'L': 43.7}  # official SegNeXt README, 512×512, fp32


def peak_mib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_call(fn: Callable, x: torch.Tensor, warmup: int, iters: int, dtype) -> Dict:
    device = x.device
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == 'bf16')
    times = []
    with torch.inference_mode(), amp:
        for i in range(warmup + iters):
            sync()
            start = time.perf_counter()
            fn(x)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    return dict(img_s=x.shape[0] / median, latency_ms=1e3 * median, peak_mib=peak_mib(device))


def ours(variant: str, device: torch.device, compile_: bool) -> Callable:
    sys.path.insert(0, REPO)
    from mmseg.apis import init_segmentor
    cfg = osp.join(REPO, 'local_configs', 'segnext', VARIANTS[variant],
                   f'segnext.{VARIANTS[variant]}.512x512.ade.160k.py')
    model = init_segmentor(cfg, device=device, fuse=True)
    fn = model.forward_dummy
    return torch.compile(fn) if compile_ else fn


def reference_rows(args, plan: List[Dict], deadline: float) -> List[Dict]:
    """MMSegmentation 1.2.2 rows from its venv (eager only), or [] when the venv is missing."""
    python = osp.join(REPO, '.ref_venv', 'bin', 'python')
    if not osp.exists(python):
        return []
    sys.path.insert(0, osp.join(REPO, 'benchmarks', 'parity'))
    from check_parity import variant_parts
    jobs = [dict(p, parts=variant_parts(p['variant'].lower())) for p in plan if p['mode'] == 'eager']
    left = max(deadline - time.time(), 1)
    try:
        out = subprocess.run([python, '-I', osp.abspath(__file__), '--ref-worker', json.dumps(dict(
            jobs=jobs, device=args.device, shape=args.shape, warmup=args.warmup, iters=args.iters,
            deadline=deadline))], capture_output=True, text=True, timeout=left + 30)
    except subprocess.TimeoutExpired:
        return []
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{')]
    if out.returncode != 0 and not rows:
        print(f'reference run failed: {out.stderr.strip()[-500:]}', file=sys.stderr)
    return rows


def ref_worker(spec: Dict) -> int:
    """Runs inside .ref_venv: builds mmseg 1.2.2's MSCAN + LightHamHead per job and prints one JSON row each."""
    sys.path.insert(0, osp.join(REPO, 'benchmarks', 'parity'))
    from reference_runner import build_reference
    device = torch.device(spec['device'])
    for job in spec['jobs']:
        if time.time() > spec['deadline']:
            print(json.dumps(dict(job, impl='mmseg 1.2.2', skipped='budget')), flush=True)
            continue
        backbone, head = build_reference(*job['parts'])
        backbone, head = backbone.to(device), head.to(device)
        for m in head.modules():  # the official head draws NMF bases on .cuda(); keep the module on device
            m.eval()

        def fn(x, backbone=backbone, head=head):
            return F.interpolate(head(backbone(x)), size=x.shape[2:], mode='bilinear', align_corners=False)
        x = torch.randn(job['batch'], 3, spec['shape'], spec['shape'], device=device)
        row = time_call(fn, x, spec['warmup'], spec['iters'], job['precision'])
        job = {k: v for k, v in job.items() if k != 'parts'}
        print(json.dumps(dict(job, impl='mmseg 1.2.2', **row)), flush=True)
    return 0


def build_plan(args) -> List[Dict]:
    variants = ['T'] if args.quick else list(VARIANTS)
    batches = [1, 2] if args.quick else [1, 16]
    modes = ['eager'] + ([] if args.quick and not args.compile_in_quick else ['compile'])
    plan = [dict(variant=v, precision=p, mode=m, batch=b)
            for m in modes for v in variants for p in ('fp32', 'bf16') for b in batches]
    return plan


def format_table(rows: List[Dict], args) -> str:
    head = '| impl | variant | precision | mode | batch | img/s | latency (ms) | peak memory (MiB) |'
    lines = [head, '|---|---|---|---|---|---|---|---|']
    for r in rows:
        if r.get('skipped'):
            lines.append(f"| {r['impl']} | {r['variant']} | {r['precision']} | {r['mode']} | {r['batch']} | "
                         f"skipped ({r['skipped']}) | | |")
        else:
            lines.append(f"| {r['impl']} | {r['variant']} | {r['precision']} | {r['mode']} | {r['batch']} | "
                         f"{r['img_s']:.1f} | {r['latency_ms']:.1f} | {r['peak_mib']:.0f} |")
    if not args.quick:
        for v, ms in V100_MS.items():
            lines.append(f'| official, V100 (published, historical) | {v} | fp32 | eager | 1 | {1e3 / ms:.1f} | '
                         f'{ms} | – |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='GPU table: T/S/B/L x fp32/bf16 x eager/compile x batch 1/16')
    p.add_argument('--device', default='cuda')
    p.add_argument('--quick', action='store_true', help='smoke test: T only, batch 1/2, eager, 2 iterations')
    p.add_argument('--compile-in-quick', action='store_true', help='include torch.compile rows in --quick')
    p.add_argument('--shape', type=int, default=512)
    p.add_argument('--warmup', type=int, default=None)
    p.add_argument('--iters', type=int, default=None)
    p.add_argument('--budget-s', type=float, default=420, help='stop starting rows after this many seconds')
    p.add_argument('--no-reference', action='store_true')
    p.add_argument('--json')
    p.add_argument('--ref-worker', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ref_worker:
        return ref_worker(json.loads(args.ref_worker))
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device (use --device cpu --quick for a smoke test)')
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    args.iters = args.iters if args.iters is not None else (2 if args.quick else 20)
    device = torch.device(args.device)
    start = time.time()
    # the reference gets a third of the budget, ours the rest
    deadline = start + args.budget_s * (1 if args.no_reference else 2 / 3)
    plan = build_plan(args)
    rows, models = [], {}
    for job in plan:
        if time.time() > deadline:
            rows.append(dict(job, impl='ours', skipped='budget'))
            continue
        key = (job['variant'], job['mode'])
        if key not in models:
            models = {key: ours(job['variant'], device, job['mode'] == 'compile')}  # one model alive at a time
        x = torch.randn(job['batch'], 3, args.shape, args.shape, device=device)
        rows.append(dict(job, impl='ours', **time_call(models[key], x, args.warmup, args.iters, job['precision'])))
    models.clear()
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    if not args.no_reference:
        rows += reference_rows(args, plan, start + args.budget_s)
    device_name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    print(f'device={device_name} shape={args.shape}x{args.shape} torch={torch.__version__} '
          f'date={time.strftime("%Y-%m-%d")} wall={time.time() - start:.0f}s')
    print(format_table(rows, args))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(dict(device=device_name, shape=args.shape, torch=torch.__version__, rows=rows), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
