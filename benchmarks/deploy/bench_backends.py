"""CPU backends side by side: PyTorch fp32 / bf16, ONNX Runtime fp32 (plain export), backend='auto', INT8.

``python benchmarks/deploy/bench_backends.py --variants tiny base --threads 2 --reps 6 [--json out.json]``

Per variant (the ADE20K config, 150 classes): random weights with BN statistics calibrated on scikit-image's
photographs (``mmseg.deploy.calibration``), one 512×512 photo (astronaut), batch 1. Timed per call, interleaved
(every repetition runs each backend once, in turn), min and median reported; each call goes from the normalised input
tensor to the label map at 512×512:

- ``pytorch fp32``: ``init_segmentor(..., backend='pytorch')`` (fused, NHWC), ``simple_test``.
- ``pytorch bf16``: the same under bf16 autocast (NMF fp32).
- ``ORT fp32 (plain export)``: what a user gets from ``tools/export_onnx.py`` (whole graph with the final upsample,
  logits) in an onnxruntime session with the same threads, then ``argmax`` — the baseline of the targets.
- ``auto``: ``init_segmentor(..., backend='auto')``.
- ``ORT int8``: ``mmseg.deploy.quantize`` on the head graph, calibrated on the other photos, Hamburger fp32.

Label agreement is measured against ``pytorch fp32`` on every photo through ``inference_segmentor`` (the test
pipeline: short side 512, original size out).
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys
import tempfile
import time
from typing import Callable, Dict, List

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

CONFIGS = {v: f'local_configs/segnext/{v}/segnext.{v}.512x512.ade.160k.py' for v in ('tiny', 'small', 'base', 'large')}


def calibrated_checkpoint(config: str, photos, out: str) -> str:
    from mmseg.apis import init_segmentor
    from mmseg.apis.inference import build_test_pipeline
    from mmseg.datasets import collate
    from mmseg.deploy.calibration import calibrate_bn
    torch.manual_seed(0)
    model = init_segmentor(config, fuse=False)
    pipeline = build_test_pipeline(model.cfg)
    calibrate_bn(model, [collate([pipeline(dict(img=p))])['img'][0] for p in photos])
    torch.save({'state_dict': model.state_dict()}, out)
    return out


def plain_ort(model_cfg: str, ckpt: str, shape, workdir: str, threads: int) -> Callable:
    """The user's baseline: tools/export_onnx.py's static whole graph (logits at input size) + argmax."""
    from mmseg.apis import init_segmentor
    from mmseg.deploy.onnx_export import export
    from mmseg.deploy.ort_backend import create_session
    path = osp.join(workdir, 'plain.onnx')
    export(init_segmentor(model_cfg, ckpt, fuse=False), shape, path, output='logits', exporter='torchscript')
    session = create_session(path, threads)
    name = session.get_inputs()[0].name

    def run(img: torch.Tensor) -> np.ndarray:
        return session.run(None, {name: img.numpy()})[0].argmax(axis=1)
    return run


def bench_variant(variant: str, args, photos, workdir: str) -> Dict:
    from mmseg.apis import inference_segmentor, init_segmentor
    from mmseg.apis.inference import build_test_pipeline
    from mmseg.datasets import collate
    from mmseg.deploy.ort_backend import OrtSegmentor
    from mmseg.deploy.quantize import quantize_int8
    config = CONFIGS[variant]
    ckpt = calibrated_checkpoint(config, photos, osp.join(workdir, f'{variant}.pth'))
    models = {'pytorch fp32': init_segmentor(config, ckpt)}
    if 'bf16' in args.backends:
        models['pytorch bf16'] = init_segmentor(config, ckpt, precision='bf16')
    models['auto'] = init_segmentor(config, ckpt, backend='auto')
    pipeline = build_test_pipeline(models['pytorch fp32'].cfg)
    calib = [collate([pipeline(dict(img=p))])['img'][0] for p in photos[1:1 + args.calib]]
    if 'int8' in args.backends:
        source = init_segmentor(config, ckpt, backend='onnxruntime')
        source.session_for((1, 512, 512))
        int8_path = quantize_int8(source.graph_path(), osp.join(workdir, f'{variant}_int8.onnx'), calib)
        models['ORT int8'] = OrtSegmentor(source._source, onnx_file=int8_path)
    plain = plain_ort(config, ckpt, (args.size, args.size), workdir, torch.get_num_threads())

    data = collate([pipeline(dict(img=photos[0]))])
    img = data['img'][0]
    assert tuple(img.shape[2:]) == (args.size, args.size), img.shape
    metas = [dict(ori_shape=(args.size, args.size, 3), img_shape=(args.size, args.size, 3), flip=False)]
    calls: Dict[str, Callable] = {}
    for name, m in models.items():
        calls[name] = (lambda m: lambda: m.simple_test(img, metas, rescale=True))(m)
    calls['ORT fp32 (plain export)'] = lambda: plain(img)
    times: Dict[str, List[float]] = {k: [] for k in calls}
    with torch.inference_mode():
        for fn in calls.values():  # warm-up: first-call allocations and lazy initialisation
            fn()
        for _ in range(args.reps):
            for name, fn in calls.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        check = photos[:args.agree_photos] if args.agree_photos else photos
        ref = inference_segmentor(models['pytorch fp32'], check)
        agree = {}
        for name, m in models.items():
            got = inference_segmentor(m, check)
            diff = sum(int((g != r).sum()) for g, r in zip(got, ref))
            agree[name] = (1 - diff / sum(r.size for r in ref), diff)
        plain_labels = plain(img)[0]
        ref_512 = models['pytorch fp32'].simple_test(img, metas)[0]
        agree['ORT fp32 (plain export)'] = (float((plain_labels == ref_512).mean()),
                                            int((plain_labels != ref_512).sum()))
    base = min(times['ORT fp32 (plain export)'])
    base_med = float(np.median(times['ORT fp32 (plain export)']))
    rows = []
    for name, ts in times.items():
        rows.append(dict(variant=variant, backend=name, min_ms=1e3 * min(ts), median_ms=1e3 * float(np.median(ts)),
                         speedup_vs_ort_min=base / min(ts), speedup_vs_ort_median=base_med / float(np.median(ts)),
                         agreement=agree[name][0], differing_pixels=agree[name][1]))
    return dict(variant=variant, rows=rows, photos=len(check), reps=args.reps)


def format_rows(rows: List[Dict]) -> str:
    head = (f"| {'variant':7} | {'backend':24} | min ms | median ms | × ORT fp32 (min / median) | "
            f'labels = pytorch fp32 |')
    lines = [head, '|' + '|'.join('-' * (len(c)) for c in head.split('|')[1:-1]) + '|']
    for r in rows:
        lines.append(f"| {r['variant']:7} | {r['backend']:24} | {r['min_ms']:6.0f} | {r['median_ms']:9.0f} | "
                     f"{r['speedup_vs_ort_min']:.2f} / {r['speedup_vs_ort_median']:.2f} | "
                     f"{100 * r['agreement']:.3f} % ({r['differing_pixels']} px) |")
    return '\n'.join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--variants', nargs='+', default=['tiny', 'base'], choices=sorted(CONFIGS))
    p.add_argument('--backends', nargs='+', default=['bf16', 'int8'], help='optional rows: bf16 int8')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--reps', type=int, default=6)
    p.add_argument('--calib', type=int, default=5, help='calibration photos for INT8 (not the timed one)')
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--agree-photos', type=int, help='label agreement on the first N photos only (default: all)')
    p.add_argument('--json')
    args = p.parse_args(argv)
    import onnxruntime
    from mmseg.deploy.calibration import sample_photos
    from mmseg.utils.threads import setup_threads
    setup_threads(args.threads)
    photos = sample_photos()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault('SEGNEXT_CACHE_DIR', osp.join(tmp, 'cache'))
        for v in args.variants:
            results.append(bench_variant(v, args, photos, tmp))
    rows = [r for res in results for r in res['rows']]
    info = dict(date=time.strftime('%Y-%m-%d'), machine=f'{platform.machine()} {os.cpu_count()} cores',
                cpu_capability=torch.backends.cpu.get_cpu_capability(), threads=torch.get_num_threads(),
                torch=torch.__version__, onnxruntime=onnxruntime.__version__, size=args.size, reps=args.reps)
    print(' '.join(f'{k}={v}' for k, v in info.items()))
    print(format_rows(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(info, results=results), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
