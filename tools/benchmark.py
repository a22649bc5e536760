"""Inference speed and memory of a config's model.

``python tools/benchmark.py CONFIG [CKPT] --batch-sizes 1 2 --shapes 512x512 1024x2048 --json out.json``
``python tools/benchmark.py CONFIG [CKPT] --device cpu --backends all``   (the ``backend='auto'`` table)

Shapes are ``HxW``. Each (batch, shape) runs ``--warmup`` untimed then ``--iters`` timed calls of
``model.inference`` (softmax probabilities at the input size, ``--mode`` whole or slide), synchronising the GPU
around every call. Reports throughput (img/s), latency (median and p90 ms per call) and peak memory:
``torch.cuda.max_memory_allocated`` on GPU, the process's RSS high-water mark (``getrusage``) on CPU — the latter
never goes down, so on CPU it is the peak of the whole run up to that row.

``--backends all`` first measures every runtime/precision available on this CPU exactly as ``backend='auto'`` does
on its first input (gate against fp32 PyTorch, interleaved timing; ``mmseg.deploy.auto``) at the first shape and
batch size, prints that table and the decision (and refreshes the cached decision), then benchmarks the winner.
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import platform
import resource
import sys
import time
from typing import Dict, List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmseg.deploy.backends import BACKENDS, PRECISIONS  # noqa: E402
from mmseg.utils import DictAction, get_root_logger  # noqa: E402


def parse_shape(text: str) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must be HxW like 512x512, got '{text}'") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"shape must be positive, got '{text}'")
    return h, w


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='Benchmark inference throughput, latency and memory')
    p.add_argument('config', help='config file path')
    p.add_argument('checkpoint', nargs='?', help='optional checkpoint (weights do not change the speed)')
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1])
    p.add_argument('--shapes', type=parse_shape, nargs='+', default=[(512, 512)], help='input sizes HxW')
    p.add_argument('--mode', choices=['whole', 'slide'], help="inference mode (default: the config's test_cfg)")
    p.add_argument('--amp', choices=['bf16', 'fp16'], help='autocast dtype (the NMF stays fp32)')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--no-fuse', action='store_true', help='time the unfused model (default: fused, as tools/test.py)')
    p.add_argument('--compile', action='store_true', help='same as --backend compiled')
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--threads', type=int, help='CPU threads (default: the cores this process may use)')
    p.add_argument('--backend', choices=BACKENDS, default='pytorch',
                   help='inference runtime (onnxruntime, openvino: CPU; graphs exported on first use and cached)')
    p.add_argument('--precision', choices=PRECISIONS, help='fp32 (default) or bf16')
    p.add_argument('--backends', choices=['all'],
                   help="'all': measure every available runtime as backend='auto' does, print the table, then "
                        'benchmark the chosen one')
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--json', help='write the results here')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help="override config keys, 'a.b=v'")
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device available')
    if args.warmup < 0 or args.iters < 1 or min(args.batch_sizes) < 1:
        p.error('--warmup >= 0, --iters >= 1 and batch sizes >= 1 are required')
    if args.compile:
        args.backend = 'compiled'
    if args.backends == 'all':
        args.backend = 'auto'
    if args.backend != 'pytorch' and (args.device != 'cpu' or args.amp or args.channels_last):
        p.error(f'--backend {args.backend} runs on the CPU without --amp/--channels-last')
    if args.amp == 'fp16' and args.device == 'cpu':
        p.error('--amp fp16 needs --device cuda (use bf16 on CPU)')
    return args


def peak_memory_mib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def benchmark_one(model: torch.nn.Module, batch: int, shape: Tuple[int, int], device: torch.device,
                  warmup: int, iters: int, amp_dtype, channels_last: bool) -> Dict:
    """Time ``iters`` predictions (H×W labels, whole or slide per the config) on a random (batch, 3, H, W) input;
    returns one result row."""
    img = torch.randn(batch, 3, *shape, device=device)
    if channels_last:
        img = img.contiguous(memory_format=torch.channels_last)
    metas = [dict(ori_shape=(*shape, 3), img_shape=(*shape, 3), pad_shape=(*shape, 3), flip=False)] * batch
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    times: List[float] = []
    amp = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        for i in range(warmup + iters):
            sync()
            start = time.perf_counter()
            model.simple_test(img, metas, rescale=False)  # labels, as tools/test.py and the demos produce
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1e3
    return dict(batch_size=batch, shape=list(shape), iters=iters, warmup=warmup,
                throughput_img_s=float(batch * iters / np.sum(times)),
                latency_ms_median=float(np.median(ms)), latency_ms_p90=float(np.percentile(ms, 90)),
                latency_ms_min=float(ms.min()), peak_memory_mib=float(peak_memory_mib(device)),
                memory_kind='cuda_max_allocated' if device.type == 'cuda' else 'process_rss_high_water')


def format_table(rows: List[Dict]) -> str:
    head = f"{'batch':>5} {'input':>11} {'img/s':>9} {'median ms':>10} {'p90 ms':>9} {'peak MiB':>9}"
    lines = [head, '-' * len(head)]
    for r in rows:
        lines.append(f"{r['batch_size']:>5} {'x'.join(map(str, r['shape'])):>11} {r['throughput_img_s']:>9.2f} "
                     f"{r['latency_ms_median']:>10.1f} {r['latency_ms_p90']:>9.1f} {r['peak_memory_mib']:>9.0f}")
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmseg.apis import init_segmentor
    logger = get_root_logger()
    if args.device == 'cpu':
        from mmseg.utils.threads import setup_threads
        setup_threads(args.threads)
    device = torch.device(args.device)
    cfg_options = dict(args.cfg_options or {})
    if args.mode:
        cfg_options['model.test_cfg.mode'] = args.mode
    model = init_segmentor(args.config, args.checkpoint, device, cfg_options, fuse=not args.no_fuse,
                           backend=args.backend, precision=args.precision)
    if model.test_cfg.get('mode') == 'slide' and not {'crop_size', 'stride'} <= set(model.test_cfg):
        raise KeyError(f'{args.config}: slide mode needs model.test_cfg.crop_size and stride '
                       f'(--cfg-options model.test_cfg.crop_size="(1024,1024)" ...)')
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    decision = None
    if args.backends == 'all':
        from mmseg.deploy.auto import format_decision
        shape, batch = args.shapes[0], args.batch_sizes[0]
        window = tuple(min(c, s) for c, s in zip(model.test_cfg['crop_size'], shape)) \
            if model.test_cfg.get('mode') == 'slide' else shape  # what the runtime sees
        decision = model.runtime.decide(torch.randn(batch, 3, *window), force=True)
        print(format_decision(decision))
    amp_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16, None: None}[args.amp]
    rows = []
    for shape in args.shapes:
        for batch in args.batch_sizes:
            row = benchmark_one(model, batch, shape, device, args.warmup, args.iters, amp_dtype, args.channels_last)
            logger.info('batch %d %s: %.2f img/s, median %.1f ms', batch, shape, row['throughput_img_s'],
                        row['latency_ms_median'])
            rows.append(row)
    print(format_table(rows))
    if args.json:
        info = dict(config=args.config, checkpoint=args.checkpoint, device=str(device),
                    device_name=torch.cuda.get_device_name(device) if device.type == 'cuda' else
                    (platform.processor() or platform.machine()),
                    threads=torch.get_num_threads(), torch=torch.__version__, mode=model.test_cfg.get('mode', 'whole'),
                    backend=args.backend, runtime=repr(model.runtime), precision=args.precision,
                    auto_decision=decision, backend_class=type(model).__name__, amp=args.amp,
                    channels_last=args.channels_last, compile=args.compile, fused=not args.no_fuse,
                    time=time.strftime('%Y-%m-%d %H:%M:%S'), results=rows)
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        tmp = args.json + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(info, f, indent=2)
        os.replace(tmp, args.json)
        logger.info('wrote %s', args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
