"""Peak memory of single-scale prediction on a large photo: chunked (default) vs plain resize-then-argmax.

    python benchmarks/memory/large_image.py [--config CFG] [--size W H] [--reps 1] [--json out.json]

Each setting runs in a fresh process (so one setting's high-water mark cannot hide in another's): the worker builds
the model (random weights, fused as the tools use it), makes a W×H uint8 BGR image, records the RSS high-water mark
(``ru_maxrss``), runs ``inference_segmentor`` and records it again. ``plain`` sets ``test_cfg.predict_chunk_mb=0``,
the path that materialises all K class maps at the original size before the argmax. The two label maps are
compared (they must be identical).
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(ROOT, 'local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py')


def _rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(setting: str, config: str, width: int, height: int, threads: int, labels_out: str) -> dict:
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch
    from mmseg.apis import inference_segmentor, init_segmentor
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = init_segmentor(config, None, device='cpu')
    model.test_cfg['predict_chunk_mb'] = 0 if setting == 'plain' else model.test_cfg.get('predict_chunk_mb', 64)
    img = np.random.RandomState(0).randint(0, 256, size=(height, width, 3), dtype=np.uint8)
    before = _rss_peak_mib()
    start = time.perf_counter()
    seg = inference_segmentor(model, img)[0]
    seconds = time.perf_counter() - start
    after = _rss_peak_mib()
    np.save(labels_out, seg.astype(np.int16))
    return dict(setting=setting, size=f'{width}x{height}', num_classes=int(model.num_classes),
                rss_peak_before_mib=round(before, 1), rss_peak_after_mib=round(after, 1),
                seconds=round(seconds, 2), torch=torch.__version__, threads=threads)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=DEFAULT_CONFIG)
    p.add_argument('--size', type=int, nargs=2, default=(4000, 3000), metavar=('W', 'H'))
    p.add_argument('--settings', nargs='+', default=['chunked', 'plain'], choices=['chunked', 'plain'])
    p.add_argument('--reps', type=int, default=1, help='interleaved repetitions of every setting')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--json', help='write the results here')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--labels-out', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.config, *args.size, args.threads, args.labels_out)))
        return 0
    import numpy as np
    import tempfile
    results, labels = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for setting in args.settings:
                out = osp.join(tmp, f'{setting}_{rep}.npy')
                cmd = [sys.executable, osp.abspath(__file__), '--worker', setting, '--config', args.config,
                       '--size', *map(str, args.size), '--threads', str(args.threads), '--labels-out', out]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
                if proc.returncode != 0:
                    sys.stderr.write(proc.stderr[-3000:])
                    results.append(dict(setting=setting, rep=rep, error=f'exit {proc.returncode} (killed for memory '
                                        f'if -9)'))
                    print(json.dumps(results[-1]), flush=True)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row['rep'] = rep
                results.append(row)
                labels.setdefault(setting, np.load(out))
                print(json.dumps(row), flush=True)
        if len(labels) == 2:
            same = bool(np.array_equal(labels['chunked'], labels['plain']))
            print(json.dumps(dict(labels_identical=same)))
            results.append(dict(labels_identical=same))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
