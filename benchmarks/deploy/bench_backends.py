"""Image → labels on the CPU for every runtime/precision, ``backend='auto'``'s pick, and MMSegmentation 1.2.2's
``predict`` as the peer, in one run.

    python benchmarks/deploy/bench_backends.py --variants t b --threads 2 --reps 10 --json deploy.json
    python benchmarks/deploy/bench_backends.py --tiny --reps 1          # does it run (a shallow model, small sizes)

Per variant (the ADE20K config: 150 classes; random weights with BN statistics calibrated on scikit-image's
photographs, ``mmseg.deploy.calibration``) and per case — 512×512 whole, 2048×1024 whole, 2048×1024 slide (1024²
windows, stride 768, the Cityscapes test setting) — one photo resized to the case size goes image → labels through:

- ``Segmenter(img)`` for each runtime/precision (``mmseg.apis.Segmenter.from_config(..., backend=, precision=)``):
  pytorch fp32 (fused, the plain path), pytorch bf16, compiled fp32, onnxruntime fp32, openvino fp32/bf16 (bf16
  rows only where the CPU has bf16 in hardware), onnxruntime/openvino int8 (``mmseg.deploy.quantize``, calibrated
  on the other photos; random weights, so their labels say nothing about a trained model's accuracy; OpenVINO's
  with our default ``mixed`` preset, ``openvino:int8-performance`` with NNCF's own);
- ``backend='auto'`` (a fresh decision cache: it measures on its warm-up call, and the row says what it picked);
- the peer: MMSegmentation 1.2.2 ``inference_model`` in its own process of the reference venv (same weights through
  ``to_mmseg_layout``, same threads, its NMF with its own random bases).

Each repetition runs the peer once and every runtime once, in turn (interleaved, so load drift hits all alike),
after one untimed warm-up call each (exports, compilation, auto's measurement). Reported: min and median ms, the
ratio to the peer (peer / ours, min and median), labels equal to pytorch fp32. The header gives the CPU model and
kernel flags, the threads, the load average at start and end, and every version.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks' / 'speed'))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_segnext import Worker  # noqa: E402  (the JSON-lines worker process, here the peer's)

CONFIGS = {v: f'local_configs/segnext/{d}/segnext.{d}.512x512.ade.160k.py'
           for v, d in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large'))}
PEER_CONFIGS = {v: f'segnext_mscan-{v}_1xb16-adamw-160k_ade20k-512x512.py' for v in CONFIGS}
# name: (H, W, mode, crop, stride)
CASES = {'512': (512, 512, 'whole', None, None), '2048-whole': (1024, 2048, 'whole', None, None),
         '2048-slide': (1024, 2048, 'slide', (1024, 1024), (768, 768))}
TINY_CASES = {'512': (128, 128, 'whole', None, None), '2048-whole': (128, 256, 'whole', None, None),
              '2048-slide': (128, 256, 'slide', (128, 128), (96, 96))}
RUNTIMES = ('pytorch:fp32', 'pytorch:bf16', 'compiled:fp32', 'onnxruntime:fp32', 'openvino:fp32', 'openvino:bf16',
            'onnxruntime:int8', 'openvino:int8', 'openvino:int8-performance', 'auto')


def calibrated_checkpoint(config: str, photos, opts: Dict, out: str) -> str:
    from mmseg.apis import init_segmentor
    from mmseg.apis.segmenter import build_test_pipeline
    from mmseg.datasets import collate
    from mmseg.deploy.calibration import calibrate_bn
    torch.manual_seed(0)
    model = init_segmentor(config, fuse=False, cfg_options=opts)
    pipeline = build_test_pipeline(model.cfg)
    calibrate_bn(model, [collate([pipeline(dict(img=p))])['img'][0] for p in photos])
    torch.save({'state_dict': model.state_dict()}, out)
    return out


def case_options(h: int, w: int, mode: str, crop, stride, depths) -> Dict:
    opts = {'data.test.pipeline.1.img_scale': (w, h)}  # the photo is resized to (h, w): the pipeline keeps it
    opts['model.test_cfg'] = dict(mode='whole') if mode == 'whole' else dict(mode='slide', crop_size=crop,
                                                                          stride=stride)
    if depths:
        opts['model.backbone.depths'] = list(depths)
    return opts


def build_runtime(name: str, config: str, ckpt: str, opts: Dict, calib, workdir: str) -> Callable:
    """A Segmenter for ``name`` ('backend:precision' or 'auto'); int8 ones are quantized here first."""
    from mmseg.apis import Segmenter
    from mmseg.deploy.quantize import quantize_int8, quantize_openvino
    if name == 'auto':
        return Segmenter.from_config(config, ckpt, backend='auto', cfg_options=opts)
    backend, precision = name.split(':')
    if not precision.startswith('int8'):
        return Segmenter.from_config(config, ckpt, backend=backend, precision=precision, cfg_options=opts)
    fp32 = Segmenter.from_config(config, ckpt, backend=backend, cfg_options=opts)
    graph = fp32.model.runtime.graph.path((1, *calib[0].shape[2:]))
    out = osp.join(workdir, f'{abs(hash((config, str(opts))))}_{backend}_{precision}' + (
        '.xml' if backend == 'openvino' else '.onnx'))
    if backend == 'openvino':
        preset = precision.partition('-')[2]  # 'int8-performance' -> NNCF's own preset; 'int8' -> ours
        quantize_openvino(graph, out, calib, **({'preset': preset} if preset else {}))
    else:
        quantize_int8(graph, out, calib)
    return Segmenter.from_config(config, out, backend=backend, cfg_options=opts)


def skip_reason(name: str) -> Optional[str]:
    from mmseg.deploy.backends import available
    from mmseg.deploy.cpu import native_bf16
    backend, _, precision = name.partition(':')
    if backend in ('onnxruntime', 'openvino') and not available(backend):
        return f'{backend} is not installed'
    if name.startswith('openvino:int8'):
        try:
            import nncf  # noqa: F401
        except ImportError:
            return 'nncf is not installed'
    if precision == 'bf16' and not native_bf16():
        return 'no bf16 in hardware (AVX512-BF16/AMX): emulated, never chosen'
    return None


def bench_case(variant: str, case: str, args, photos, workdir: str) -> Dict:
    import cv2
    from mmseg.apis.segmenter import build_test_pipeline
    from mmseg.datasets import collate
    from mmseg.deploy.agreement import label_agreement
    from mmseg.models import to_mmseg_layout
    from mmseg.utils import Config
    h, w, mode, crop, stride = (TINY_CASES if args.tiny else CASES)[case]
    config = str(REPO / CONFIGS[variant])
    depths = [1, 1, 1, 1] if args.tiny else None
    opts = case_options(h, w, mode, crop, stride, depths)
    calib_photos = [cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in photos]
    ckpt = calibrated_checkpoint(config, calib_photos[1:], opts, osp.join(workdir, f'{variant}_{case}.pth'))
    img = calib_photos[0]
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(opts)
    pipeline = build_test_pipeline(cfg)
    window = (h, w) if mode == 'whole' else tuple(min(c, s) for c, s in zip(crop, (h, w)))
    calib = [collate([pipeline(dict(img=cv2.resize(p, window[::-1])))])['img'][0] for p in calib_photos[1:]]

    calls: Dict[str, Callable] = {}
    segs: Dict[str, object] = {}
    skipped: Dict[str, str] = {}
    for name in args.runtimes:
        reason = skip_reason(name)
        if reason is None:
            try:
                seg = build_runtime(name, config, ckpt, opts, calib, workdir)
                seg(img)  # warm-up: exports, compilation, auto's measurement
                segs[name] = seg
                calls[name] = (lambda s: lambda: s(img)[0])(seg)
            except Exception as e:  # one runtime that cannot run here must not cost the whole table
                reason = f'{type(e).__name__}: {e}'.splitlines()[0][:200]
        if reason is not None:
            skipped[name] = reason
            print(f'  {variant} {case}: {name} skipped ({reason})', flush=True)
    auto_pick = None
    if 'auto' in calls:
        decisions = segs['auto'].model.runtime.decisions
        auto_pick = {'x'.join(map(str, s)): f"{d['backend']}:{d['precision']}" for s, d in decisions.items()}
    peer = None
    if not args.no_peer:
        payload = osp.join(workdir, f'peer_{variant}_{case}.pt')
        state = torch.load(ckpt, weights_only=True)['state_dict']
        torch.save(dict(config=PEER_CONFIGS[variant], depths=depths or cfg.model.backbone.depths, image=img,
                        state_dict=to_mmseg_layout(state), mode=mode, crop=crop, stride=stride), payload)
        peer = Worker('MMSegmentation 1.2.2', args.ref_python, dict(payload=payload, threads=torch.get_num_threads()),
                      script=HERE / 'peer_worker.py', isolated=True)
        peer.ask(dict(cmd='time', n=1))
    times: Dict[str, List[float]] = {k: [] for k in (['peer'] if peer else []) + list(calls)}
    try:
        with torch.inference_mode():
            for _ in range(args.reps):
                if peer:
                    times['peer'] += peer.ask(dict(cmd='time', n=1))['wall']
                for name, fn in calls.items():
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            ref = calls['pytorch:fp32']() if 'pytorch:fp32' in calls else None
            agree = {name: (label_agreement(fn(), ref) if ref is not None else None) for name, fn in calls.items()}
        if peer:
            out = osp.join(workdir, 'peer_labels.npy')
            peer.ask(dict(cmd='labels', out=out))
            agree['peer'] = label_agreement(np.load(out), ref) if ref is not None else None
    finally:
        if peer:
            peer.close()
    base = times.get('peer')
    rows = []
    for name, ts in times.items():
        row = dict(variant=variant, case=case, size=f'{w}x{h}', mode=mode, runtime=name, min_ms=1e3 * min(ts),
                   median_ms=1e3 * statistics.median(ts), reps=len(ts), agreement=agree.get(name))
        if base:
            row.update(x_peer_min=min(base) / min(ts), x_peer_median=statistics.median(base) / statistics.median(ts))
        rows.append(row)
    return dict(variant=variant, case=case, rows=rows, skipped=skipped, auto_pick=auto_pick,
                peer_versions=peer.info['versions'] if peer else None)


def format_rows(rows: List[Dict]) -> str:
    head = '| variant | case | runtime | min ms | median ms | × peer (min / median) | labels = pytorch fp32 |'
    lines = [head, '|---|---|---|---|---|---|---|']
    for r in rows:
        ratio = f"{r['x_peer_min']:.2f} / {r['x_peer_median']:.2f}" if 'x_peer_min' in r else '–'
        agree = '–' if r['agreement'] is None else f"{100 * r['agreement']:.3f} %"
        lines.append(f"| {r['variant']} | {r['case']} ({r['size']}) | {r['runtime']} | {r['min_ms']:.0f} | "
                     f"{r['median_ms']:.0f} | {ratio} | {agree} |")
    return '\n'.join(lines)


def versions() -> Dict[str, Optional[str]]:
    from mmseg.deploy.auto import library_versions
    out = library_versions()
    try:
        import nncf
        out['nncf'] = nncf.__version__
    except ImportError:
        out['nncf'] = None
    return out


def settle(limit_s: float) -> Dict:
    """Wait until the 1-minute load average is below 1.5 or ``limit_s`` has passed; the reading and the wait.
    A quiet machine falls from the benchmark's own 2 to below 1.5 in about 20 s; one that stays above it ran
    something else too."""
    start = time.monotonic()
    while os.getloadavg()[0] >= 1.5 and time.monotonic() - start < limit_s:
        time.sleep(5)
    return dict(loadavg=os.getloadavg(), after_s=time.monotonic() - start)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--variants', nargs='+', default=['t', 'b'], choices=sorted(CONFIGS))
    p.add_argument('--cases', nargs='+', default=list(CASES), choices=list(CASES))
    p.add_argument('--runtimes', nargs='+', default=list(RUNTIMES), choices=list(RUNTIMES))
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=10)
    p.add_argument('--tiny', action='store_true', help='one block per stage and small sizes: a quick run-through')
    p.add_argument('--no-peer', action='store_true', help='skip MMSegmentation 1.2.2')
    p.add_argument('--ref-python', default=str(REPO / '.ref_venv' / 'bin' / 'python'),
                   help='python of the reference venv (benchmarks/reference_env.sh)')
    p.add_argument('--settle', type=float, default=120, metavar='S',
                   help='after the last run, wait up to S seconds for the 1-minute load to fall below 1.5 and '
                        "report it: the reading right at the end is mostly the benchmark's own threads")
    p.add_argument('--json')
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error('--reps must be >= 1')
    args.ref_python = osp.abspath(args.ref_python)  # the peer's worker starts in another directory
    if not args.no_peer and not osp.isfile(args.ref_python):
        p.error(f'--ref-python {args.ref_python} does not exist (build it with benchmarks/reference_env.sh, or '
                f'pass --no-peer)')
    from mmseg.deploy.calibration import sample_photos
    from mmseg.deploy.cpu import cpu_model, kernel_flags
    from mmseg.utils.threads import setup_threads
    setup_threads(args.threads)
    load_start = os.getloadavg()
    load_end = settled = None
    photos = sample_photos()
    results = []

    def summary() -> Dict:
        return dict(date=time.strftime('%Y-%m-%d %H:%M'), cpu=cpu_model(), machine=platform.machine(),
                    cores=os.cpu_count(), flags=sorted(k for k, v in kernel_flags().items() if v is True),
                    torch_capability=kernel_flags()['torch_capability'], threads=torch.get_num_threads(),
                    loadavg_start=load_start, loadavg_end=load_end or os.getloadavg(), loadavg_settled=settled,
                    versions=versions(),
                    peer_versions=next((r['peer_versions'] for r in results if r['peer_versions']), None),
                    reps=args.reps, tiny=args.tiny)

    def save() -> None:  # after every case: a run killed later (out of memory at 2048² B, say) keeps what it measured
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(dict(summary(), results=results), f, indent=2)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ['SEGNEXT_CACHE_DIR'] = osp.join(tmp, 'cache')  # auto measures afresh; graphs exported afresh
        for v in args.variants:
            for case in args.cases:
                print(f'{v} {case} ...', flush=True)
                results.append(bench_case(v, case, args, photos, tmp))
                print(format_rows(results[-1]['rows']), flush=True)
                save()
    load_end = os.getloadavg()
    settled = settle(args.settle)
    info = summary()
    print(f"{info['date']}  {info['cpu']} ({info['cores']} cores, {info['threads']} threads)  flags: "
          f"{' '.join(info['flags'])}  torch capability {info['torch_capability']}")
    print(f"loadavg at start {' '.join(f'{x:.2f}' for x in load_start)}, at end "
          f"{' '.join(f'{x:.2f}' for x in load_end)}, {settled['after_s']:.0f} s later {settled['loadavg'][0]:.2f}")
    print('versions: ' + ', '.join(f'{k} {v}' for k, v in info['versions'].items())
          + (f"; peer: {', '.join(f'{k} {v}' for k, v in info['peer_versions'].items())}"
             if info['peer_versions'] else ''))
    print(format_rows([r for res in results for r in res['rows']]))
    for res in results:
        if res['auto_pick']:
            print(f"auto picked for {res['variant']} {res['case']}: "
                  + ', '.join(f'{k}: {v}' for k, v in res['auto_pick'].items()))
        for name, why in res['skipped'].items():
            print(f"not run for {res['variant']} {res['case']}: {name} ({why})")
    save()
    return 0


if __name__ == '__main__':
    sys.exit(main())
