"""Markdown rows for the README speed table from ``tools/benchmark.py --json`` files.

    python benchmarks/cpu_table.py bench_t.json bench_s.json --header > speed_rows.md

One row per (file, batch size, input shape), in file order.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Sequence

HEADER = ('| Model | Device | Threads | Input (HxW) | Batch | Precision | img/s | Latency median / p90 (ms) '
          '| Peak memory (MiB) |')
RULE = '|---|---|---|---|---|---|---|---|---|'
REQUIRED = ('config', 'device', 'threads', 'results')
ROW_KEYS = ('batch_size', 'shape', 'throughput_img_s', 'latency_ms_median', 'latency_ms_p90', 'peak_memory_mib')


def load(path: str) -> Dict:
    """Read and check one benchmark JSON; a missing key is an error naming the file and the key."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: not a readable benchmark JSON ({e})') from e
    for key in REQUIRED:
        if key not in data:
            raise KeyError(f"{path}: missing key '{key}' (written by tools/benchmark.py --json?)")
    for i, row in enumerate(data['results']):
        for key in ROW_KEYS:
            if key not in row:
                raise KeyError(f"{path}: results[{i}] has no '{key}'")
    return data


def model_name(config: str) -> str:
    """``local_configs/segnext/tiny/segnext.tiny.512x512.ade.160k.py`` → ``segnext.tiny.512x512.ade.160k``."""
    return osp.splitext(osp.basename(config))[0]


def rows(data: Dict) -> List[str]:
    precision = data.get('amp') or 'fp32'
    if data.get('channels_last'):
        precision += ', channels-last'
    if data.get('compile'):
        precision += ', compiled'
    device = data['device'] if not data.get('device_name') else f"{data['device']} ({data['device_name']})"
    out = []
    for r in data['results']:
        out.append(f"| {model_name(data['config'])} | {device} | {data['threads']} | "
                   f"{r['shape'][0]}x{r['shape'][1]} | {r['batch_size']} | {precision} | "
                   f"{r['throughput_img_s']:.2f} | {r['latency_ms_median']:.1f} / {r['latency_ms_p90']:.1f} | "
                   f"{r['peak_memory_mib']:.0f} |")
    return out


def table(paths: Sequence[str], header: bool = True) -> str:
    lines = [HEADER, RULE] if header else []
    for path in paths:
        lines.extend(rows(load(path)))
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='README speed-table rows from tools/benchmark.py JSON files')
    p.add_argument('json', nargs='+', help='benchmark JSON files')
    p.add_argument('--header', action='store_true', help='start with the table header')
    p.add_argument('--out', help='write here instead of stdout')
    args = p.parse_args(argv)
    text = table(args.json, args.header)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
