"""Side-by-side CPU speed of our SegNeXt vs MMSegmentation 1.2.2's (the reference), as ratios.

Run from the repository root with OUR venv (the reference venv comes from benchmarks/reference_env.sh):

    python benchmarks/speed/bench_segnext.py --variants t b --threads 1 --reps 8
    python benchmarks/speed/bench_segnext.py --only train --variants t --threads 1 --reps 4
    python benchmarks/speed/bench_segnext.py --only memory peak

Each configuration (reference / ours / ours fused) lives in its own long-running worker process (worker.py) with
the same ``torch.set_num_threads``, weights and input; the driver interleaves single repetitions across the
workers (ref, ours, fused, ref, ...) so that load drift on a shared machine hits all of them alike, and reports the
minimum and median wall time and the median process CPU time per step, the speed-up ratios (reference / ours) and
the max |Δ| of the input-size logits against the reference. ``memory`` runs one training step per setting in a fresh
process and reads the ``ru_maxrss`` high-water mark; ``peak`` times a large ``torch.mm``.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks' / 'parity'))
from check_parity import calibrate_bn, get_converter, our_model_cfg, randomize_state, variant_parts  # noqa: E402

# GMAC of one 512x512 forward (spec §4.3, torchprofile on the official architecture, official MD_R)
GMAC_512 = {'t': 6.59, 's': 15.85, 'b': 34.90, 'l': 69.96}


def make_payload(variant: str, size: List[int], train_batch: int, path: Path) -> None:
    """Seeded random weights (BN stats calibrated, as the parity check) in both layouts, plus our config."""
    from mmseg.models import build_segmentor
    backbone_cfg, head_cfg = variant_parts(variant)
    cfg = our_model_cfg(variant, 'deterministic', 0)
    calib_cfg = json.loads(json.dumps(cfg))
    calib_cfg['backbone']['drop_path_rate'] = 0.0
    model = build_segmentor(calib_cfg)
    model.load_state_dict(randomize_state(model.state_dict(), 1), strict=True)
    with torch.no_grad():
        calibrate_bn(model.backbone, torch.randn((2, 3, *size), generator=torch.Generator().manual_seed(3)), 1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    converter, _ = get_converter()
    torch.save(dict(backbone=backbone_cfg, head=head_cfg, our_cfg=cfg, state_dict_ours=state,
                    state_dict_mmseg=converter(state), size=list(size), train_batch=train_batch, nmf_seed=0,
                    input_seed=2), path)


# glibc malloc settings equal to mmseg.utils.malloc.reuse_freed_memory, for the reference's process environment
MALLOC_REUSE_ENV = {'MALLOC_MMAP_MAX_': '0', 'MALLOC_TRIM_THRESHOLD_': str(2 ** 31 - 1)}


class Worker:
    """A benchmark worker process speaking JSON lines (``worker.py`` by default, or ``script``); the reference
    venv's (``setup['impl'] == 'ref'`` or ``isolated``) runs with ``-I`` so it never sees our ``mmseg``."""

    def __init__(self, name: str, python: str, setup: dict, extra_env: Optional[dict] = None,
                 script: Optional[Path] = None, isolated: bool = False):
        self.name = name
        env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON') and not k.startswith('MALLOC_')}
        env.update(extra_env or {})
        worker = str(script or HERE / 'worker.py')
        # -I: the reference venv must never see our `mmseg` (cwd, PYTHONPATH); -W ignore: its deprecation noise
        args = [python, '-I', '-W', 'ignore', worker] if isolated or setup.get('impl') == 'ref' else [python, worker]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=tempfile.gettempdir())
        self.info = self.ask(dict(cmd='setup', **setup))

    def ask(self, cmd: dict) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f'worker {self.name} died (rc={self.proc.wait()}); see its stderr above')
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.write(json.dumps(dict(cmd='quit')) + '\n')
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_speed(variant: str, mode: str, args: argparse.Namespace, workdir: Path) -> List[dict]:
    payload = workdir / f'payload_{variant}_{mode}.pt'
    make_payload(variant, args.size, args.train_batch, payload)
    configs = [('reference', args.ref_python, dict(impl='ref', fuse=False), None)]
    if mode == 'infer':  # fuse() also switches the backbone to channels-last on CPU
        configs += [('ours', sys.executable, dict(impl='ours', fuse=False), None),
                    ('ours+fuse', sys.executable, dict(impl='ours', fuse=True), None)]
    else:
        # the reference with our malloc settings too, so that the allocator's share of the ratio is visible;
        # ours as tools/train.py trains on CPU (channels-last, lean loss, malloc reuse), then with the plain
        # resize + cross-entropy, then the whole low-memory recipe (mmseg.utils.low_memory)
        ours = dict(impl='ours', fuse=False, channels_last=True, malloc='reuse')
        configs += [('reference+malloc', args.ref_python, dict(impl='ref', fuse=False), MALLOC_REUSE_ENV),
                    ('ours', sys.executable, ours, None),
                    ('ours plain loss', sys.executable, dict(ours, plain_loss=True), None),
                    ('ours+lowmem', sys.executable, dict(ours, low_memory=['with_cp', 'lean_loss', 'one_step_grad']),
                     None)]
    workers = [Worker(name, py, dict(cmd_extra, mode=mode, payload=str(payload), threads=args.threads), env)
               for name, py, cmd_extra, env in configs]
    try:
        for w in workers:  # warm-up (oneDNN primitive caches, allocator)
            w.ask(dict(cmd='time', n=args.warmup))
        times: Dict[str, dict] = {w.name: dict(wall=[], cpu=[]) for w in workers}
        for _ in range(args.reps):
            for w in workers:
                r = w.ask(dict(cmd='time', n=1))
                times[w.name]['wall'] += r['wall']
                times[w.name]['cpu'] += r['cpu']
        deltas = {}
        if mode == 'infer':
            outs = {}
            for w in workers:
                out = workdir / f'logits_{variant}_{w.name}.pt'
                w.ask(dict(cmd='logits', out=str(out)))
                outs[w.name] = torch.load(out)
            deltas = {k: (v.double() - outs['reference'].double()).abs().max().item() for k, v in outs.items()}
    finally:
        for w in workers:
            w.close()
    ref_wall, ref_cpu = min(times['reference']['wall']), min(times['reference']['cpu'])
    rows = []
    for name, t in times.items():
        wall_min, wall_med, cpu_min = min(t['wall']), statistics.median(t['wall']), min(t['cpu'])
        row = dict(variant=variant, mode=mode, impl=name, wall_min=wall_min, wall_med=wall_med, cpu_min=cpu_min,
                   speedup_wall=ref_wall / wall_min, speedup_cpu=ref_cpu / cpu_min,
                   speedup_wall_med=statistics.median(times['reference']['wall']) / wall_med,
                   max_delta=deltas.get(name, float('nan')))
        if mode == 'infer':
            row['gmacs'] = GMAC_512[variant] * (args.size[0] * args.size[1]) / 512 ** 2 / wall_min
        rows.append(row)
    return rows


MEMORY_SNIPPET = r'''
import resource, sys, torch, torch.nn.functional as F
sys.path.insert(0, {repo!r})
from mmseg.models import build_segmentor
from mmseg.models.decode_heads.nmf import NMF2D
torch.set_num_threads({threads})


def saved_bytes(fn):
    # fn() under a saved-tensor hook: bytes of the distinct storages autograd keeps for backward
    seen = dict()
    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


p = torch.load({payload!r}, weights_only=False)
cfg = p['our_cfg']; cfg['decode_head']['one_step_grad'] = {osg}
model = build_segmentor(cfg); model.load_state_dict(p['state_dict_ours']); model.train()
opt = torch.optim.AdamW(model.parameters(), lr=6e-5, weight_decay=0.01)
g = torch.Generator().manual_seed(2)
img = torch.randn(p['train_batch'], 3, *p['size'], generator=g)
label = torch.randint(0, 150, (p['train_batch'], *p['size']), generator=g)
def loss():
    out = F.interpolate(model.decode_head(model.backbone(img)), size=img.shape[2:], mode='bilinear')
    return F.cross_entropy(out, label, ignore_index=255)
for _ in range(2):  # the second step runs with the optimizer state allocated
    opt.zero_grad(set_to_none=True)
    value, model_saved = saved_bytes(loss)
    value.backward(); opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
nmf = NMF2D({channels}, R={rank}, one_step_grad={osg}).train()
x = torch.rand(p['train_batch'], {channels}, p['size'][0] // 8, p['size'][1] // 8, requires_grad=True)
out, nmf_saved = saved_bytes(lambda: nmf(x))
out.sum().backward()
print(peak, model_saved, nmf_saved)
'''


def run_memory(args: argparse.Namespace, workdir: Path) -> List[dict]:
    payload = workdir / 'payload_mem.pt'
    make_payload('t', args.size, args.train_batch, payload)
    rows = []
    for osg in (False, True):
        code = MEMORY_SNIPPET.format(repo=str(REPO), threads=args.threads, payload=str(payload), osg=osg,
                                     channels=args.nmf_channels, rank=args.nmf_rank)
        out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        peak, model_saved, nmf_saved = (int(v) for v in out.stdout.split()[-3:])
        rows.append(dict(one_step_grad=osg, peak_rss_mib=peak / 1024, model_saved_mib=model_saved / 2**20,
                         nmf_saved_mib=nmf_saved / 2**20))
    return rows


def run_peak(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(5))
    return dict(threads=args.threads, gmacs=4096 ** 3 / best / 1e9)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--only', nargs='+', default=['infer', 'train', 'memory', 'peak'],
                   choices=['infer', 'train', 'memory', 'peak'])
    p.add_argument('--variants', nargs='+', default=['t', 'b'], choices=sorted(GMAC_512))
    p.add_argument('--train-variants', nargs='+', default=['t'], choices=sorted(GMAC_512))
    p.add_argument('--ref-python', default=str(REPO / '.ref_venv' / 'bin' / 'python'))
    p.add_argument('--size', nargs=2, type=int, default=[512, 512])
    p.add_argument('--train-batch', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--reps', type=int, default=8)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--nmf-channels', type=int, default=256, help='NMF D for the memory probe (T: 256)')
    p.add_argument('--nmf-rank', type=int, default=16, help='NMF R for the memory probe (T: 16)')
    p.add_argument('--json', help='also write all rows to this file')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if ('infer' in args.only or 'train' in args.only) and not Path(args.ref_python).is_file():
        print(f'--ref-python {args.ref_python} not found; create it with benchmarks/reference_env.sh',
              file=sys.stderr)
        return 2
    print(f'# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, '
          f'threads {args.threads}, size {args.size[0]}x{args.size[1]}, {time.strftime("%Y-%m-%d %H:%M")}')
    results: Dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix='segnext_speed_') as tmp:
        for mode, variants in (('infer', args.variants), ('train', args.train_variants)):
            if mode not in args.only:
                continue
            for v in variants:
                rows = run_speed(v, mode, args, Path(tmp))
                results.setdefault(mode, []).extend(rows)
                print(f'\n{mode} {v.upper()} ({"batch 1" if mode == "infer" else f"batch {args.train_batch}"}, '
                      f'{args.reps} interleaved reps)')
                print(f"{'impl':<15}{'wall min s':>11}{'wall med s':>11}{'cpu min s':>10}{'x ref wall min':>15}"
                      f"{'x ref wall med':>15}{'x ref cpu min':>14}{'max|Δ|':>9}{'GMAC/s':>8}")
                for r in rows:
                    print(f"{r['impl']:<15}{r['wall_min']:11.3f}{r['wall_med']:11.3f}{r['cpu_min']:10.3f}"
                          f"{r['speedup_wall']:15.2f}{r['speedup_wall_med']:15.2f}{r['speedup_cpu']:14.2f}"
                          f"{r['max_delta']:9.1e}{r.get('gmacs', float('nan')):8.1f}", flush=True)
        if 'memory' in args.only:
            results['memory'] = run_memory(args, Path(tmp))
            print(f'\ntraining memory (T, batch {args.train_batch}, fresh process per setting; ru_maxrss)')
            for r in results['memory']:
                print(f"one_step_grad={r['one_step_grad']!s:<5}  train step: peak RSS {r['peak_rss_mib']:7.1f} MiB, "
                      f"saved for backward {r['model_saved_mib']:7.1f} MiB;  NMF alone: saved for backward "
                      f"{r['nmf_saved_mib']:6.2f} MiB")
        if 'peak' in args.only:
            results['peak'] = run_peak(args)
            gmacs = results['peak']['gmacs']
            print(f"\nfp32 matmul peak (4096^3 torch.mm, {args.threads} threads): {gmacs:.1f} GMAC/s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
