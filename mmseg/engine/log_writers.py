"""Training log outputs: human lines with ETA, JSON lines (``<timestamp>.log.json``) and TensorBoard scalars."""
import datetime
import json
import math
import os
from typing import Any, Dict, List, Optional

import numpy as np


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


class JsonLogWriter:
    """Append one JSON object per line; the first line is the run's meta."""

    def __init__(self, path: str, meta: Dict[str, Any]) -> None:
        self.path = path
        with open(path, 'a') as f:
            f.write(json.dumps({k: _plain(v) for k, v in meta.items()}, default=str) + '\n')

    def write(self, mode: str, record: Dict[str, Any], step: int) -> None:
        line = {'mode': mode, 'iter': step, **record}
        with open(self.path, 'a') as f:
            f.write(json.dumps({k: _plain(v) for k, v in line.items()}, default=str) + '\n')

    def close(self) -> None:
        pass


class TensorboardWriter:
    """``SummaryWriter`` under ``<work_dir>/tf_logs``; scalars are tagged ``train/<key>`` and ``val/<key>``."""

    def __init__(self, log_dir: str) -> None:
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(log_dir)

    def write(self, mode: str, record: Dict[str, Any], step: int) -> None:
        for k, v in record.items():
            if k in ('mode', 'iter', 'epoch') or not isinstance(v, (int, float)):
                continue
            self.writer.add_scalar(f'{mode}/{k}', v, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def format_train_line(it: int, max_iters: int, lr: float, eta_s: Optional[float], values: Dict[str, float],
                      memory_mb: Optional[int]) -> str:
    """``Iter [50/160000]	lr: 6.000e-05, eta: 1 day, 2:03:04, time: 0.5, data_time: 0.01, memory: 1234, ...``."""
    parts = [f'lr: {lr:.3e}']
    if eta_s is not None:
        parts.append(f'eta: {datetime.timedelta(seconds=int(eta_s))}')
    for key in ('time', 'data_time'):
        if key in values:
            parts.append(f'{key}: {values[key]:.3f}')
    if memory_mb is not None:
        parts.append(f'memory: {memory_mb}')
    parts += [f'{k}: {v:.4f}' for k, v in values.items() if k not in ('time', 'data_time')]
    return f'Iter [{it}/{max_iters}]\t' + ', '.join(parts)


def make_writers(work_dir: str, timestamp: str, meta: Dict[str, Any], tensorboard: bool) -> List[Any]:
    """A JSON writer always; TensorBoard when asked (``log_config.hooks`` names ``TensorboardLoggerHook``)."""
    os.makedirs(work_dir, exist_ok=True)
    writers: List[Any] = [JsonLogWriter(os.path.join(work_dir, f'{timestamp}.log.json'), meta)]
    if tensorboard:
        try:
            writers.append(TensorboardWriter(os.path.join(work_dir, 'tf_logs')))
        except ImportError:
            from ..utils import get_root_logger
            get_root_logger().warning('TensorboardLoggerHook configured but tensorboard is not installed')
    return writers
