"""Plot training curves from JSON-lines logs.

Each log line is one JSON object; lines with a ``mode`` (``train``/``val``) and an ``iter`` are records, anything else
(the leading ``env_info``/``config`` meta line, blank lines) is skipped. Every ``--keys`` entry gets one subplot of
value vs. iteration, with all runs overlaid.

Usage: ``python tools/analyze_logs.py LOG.json [LOG2.json ...] --keys loss mIoU --out curves.png
[--legend a b] [--title T]``.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmseg.utils import get_root_logger

Series = Dict[str, Tuple[List[int], List[float]]]


def load_log(path: str) -> Series:
    """``{key: (iters, values)}`` of every numeric field of every ``mode`` record of one log, in file order."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'log file not found: {path}')
    series: Series = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise ValueError(f'{path}:{lineno}: not a JSON object ({e})') from e
            if not isinstance(record, dict) or 'mode' not in record:
                continue
            if 'iter' not in record:
                raise ValueError(f"{path}:{lineno}: '{record['mode']}' record has no 'iter'")
            for key, value in record.items():
                if key in ('mode', 'iter') or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                iters, values = series.setdefault(key, ([], []))
                iters.append(int(record['iter']))
                values.append(float(value))
    return series


def check_keys(logs: Sequence[Series], paths: Sequence[str], keys: Sequence[str]) -> None:
    """Raise naming the first key that no log contains, with the keys that are available."""
    available = sorted(set().union(*(s.keys() for s in logs)))
    for key in keys:
        if not any(key in s for s in logs):
            raise ValueError(f"key '{key}' is in none of the logs {list(paths)}; available keys: {available}")


def plot_curves(logs: Sequence[Series], keys: Sequence[str], legend: Sequence[str], out: str,
                title: Optional[str] = None) -> None:
    """One subplot per key, one line per run; saves a PNG to ``out``."""
    import matplotlib
    matplotlib.use('Agg')  # file output only; never needs a display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for series, name in zip(logs, legend):
            if key in series:
                iters, values = series[key]
                ax.plot(iters, values, label=name, marker='o' if len(iters) < 20 else None)
        ax.set_xlabel('iter')
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, format='png', dpi=100)
    plt.close(fig)


def parse_args(argv: Optional[Iterable[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plot curves from JSON-lines training logs')
    parser.add_argument('json_logs', nargs='+', help='one or more JSON-lines logs')
    parser.add_argument('--keys', nargs='+', default=['mIoU'], help='fields to plot (one subplot each)')
    parser.add_argument('--out', required=True, help='output PNG path')
    parser.add_argument('--legend', nargs='+', help='one name per log (default: the log file names)')
    parser.add_argument('--title', help='figure title')
    return parser.parse_args(argv)


def main(argv: Optional[Iterable[str]] = None) -> int:
    args = parse_args(argv)
    legend = args.legend or [osp.basename(p) for p in args.json_logs]
    if len(legend) != len(args.json_logs):
        raise ValueError(f'--legend has {len(legend)} names for {len(args.json_logs)} logs')
    logs = [load_log(p) for p in args.json_logs]
    check_keys(logs, args.json_logs, args.keys)
    plot_curves(logs, args.keys, legend, args.out, args.title)
    get_root_logger().info(f'saved {args.keys} curves of {len(logs)} log(s) to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
