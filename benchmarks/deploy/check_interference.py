"""Does running another runtime in the same process slow plain PyTorch? (the question behind ``backend='auto'``'s
in-process probe)

    python benchmarks/deploy/check_interference.py --variant t --size 512 --reps 6

Times plain fused PyTorch image → labels alone, then interleaved with each other runtime (onnxruntime, OpenVINO,
compiled PyTorch) built in the same process, then alone again, and prints each interleaved median as a ratio to
the PyTorch-alone median (1.00: no interference). A ratio near 1 means the in-process probe is fair;
a drift between the first and last "alone" rows means the machine itself changed speed during the run. The
header gives the CPU model, kernel flags, threads and the load average at start and end.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

CONFIGS = {v: f'local_configs/segnext/{d}/segnext.{d}.512x512.ade.160k.py'
           for v, d in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large'))}


def timed(fn, img) -> float:
    start = time.perf_counter()
    fn(img)
    return 1e3 * (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--variant', choices=sorted(CONFIGS), default='t')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--reps', type=int, default=6)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--others', nargs='+', default=['onnxruntime', 'openvino', 'compiled'],
                        choices=['onnxruntime', 'openvino', 'compiled'],
                        help='runtimes to interleave with (compiled: a minute or more of compilation first)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from mmseg.apis import Segmenter
    from mmseg.deploy.backends import available
    from mmseg.deploy.cpu import cpu_flags, cpu_model
    load0 = os.getloadavg()
    config = str(REPO / CONFIGS[args.variant])
    opts = {'data.test.pipeline.1.img_scale': (args.size, args.size), 'model.test_cfg': dict(mode='whole')}
    img = (np.random.RandomState(0).rand(args.size, args.size, 3) * 255).astype(np.uint8)
    rows = []
    with torch.inference_mode():
        plain = Segmenter.from_config(config, None, backend='pytorch', cfg_options=opts)
        plain(img)
        alone = [timed(plain, img) for _ in range(args.reps)]
        rows.append(('pytorch alone', statistics.median(alone), None))
        for backend in args.others:
            if not available(backend):
                print(f'{backend}: not installed, skipped')
                continue
            other = Segmenter.from_config(config, None, backend=backend, cfg_options=opts)
            other(img)
            theirs, ours = [], []
            for _ in range(args.reps):
                theirs.append(timed(other, img))
                ours.append(timed(plain, img))
            rows.append((f'pytorch interleaved with {backend}', statistics.median(ours), statistics.median(theirs)))
            del other
        rows.append(('pytorch alone again', statistics.median([timed(plain, img) for _ in range(args.reps)]), None))
    load1 = os.getloadavg()
    shown = sorted(f for f in cpu_flags() if f.startswith(('avx512', 'amx')) or f == 'avx_vnni')
    print(f'{cpu_model()} ({os.cpu_count()} cores, {args.threads} threads) flags: {" ".join(shown)}')
    print(f'loadavg at start {load0[0]:.2f}, at end {load1[0]:.2f}; SegNeXt-{args.variant.upper()} '
          f'{args.size}x{args.size}, median of {args.reps}')
    base = rows[0][1]
    print(f"| {'run':40} | pytorch median ms | / alone | other runtime median ms |")
    for name, ms, other_ms in rows:
        print(f"| {name:40} | {ms:17.1f} | {ms / base:7.2f} | {'' if other_ms is None else f'{other_ms:.1f}':>23} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
