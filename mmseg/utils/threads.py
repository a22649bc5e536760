"""CPU threads as users expect them: the main process uses the cores it may run on, DataLoader workers one each.

Default PyTorch/OpenMP threading in every DataLoader worker oversubscribes the machine (N workers × all cores, plus the
main process): on a busy 2-core machine that made training 7× and testing 14× slower than one thread per worker
(MMSegmentation sets worker threads for the same reason).
"""
import os
from typing import Optional

import torch

from .logger import get_root_logger

_THREAD_ENV = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'NUMEXPR_NUM_THREADS')


def available_cores() -> int:
    """Cores this process may run on (CPU affinity / cgroup cpuset), not the machine's total."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # not Linux
        return max(os.cpu_count() or 1, 1)


def setup_threads(threads: Optional[int] = None) -> int:
    """Set the main process's torch intra-op threads, log and return the count.

    Default: ``OMP_NUM_THREADS`` when the environment sets it (as plain PyTorch honours it), else
    :func:`available_cores`.

    onnxruntime sessions of ``mmseg.deploy`` read the same count.
    """
    if threads is not None and threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    env = os.environ.get('OMP_NUM_THREADS', '')
    n = threads or (int(env) if env.isdigit() and int(env) > 0 else available_cores())
    torch.set_num_threads(n)
    get_root_logger().info('using %d CPU thread%s (%d core%s available)', n, 's' * (n != 1),
                           available_cores(), 's' * (available_cores() != 1))
    return n


def limit_worker_threads() -> None:
    """For a DataLoader worker: one OpenMP/MKL thread and no OpenCV thread pool (the workers already run in
    parallel; nested pools only contend)."""
    for var in _THREAD_ENV:
        os.environ[var] = '1'
    torch.set_num_threads(1)
    try:
        import cv2
        cv2.setNumThreads(0)
    except ImportError:  # pragma: no cover - opencv is a requirement, but a worker must not die for it
        pass


_WORKERS_TOLD: set = set()


def usable_workers(workers: int) -> int:
    """``data.workers_per_gpu`` capped at :func:`available_cores`: more workers than cores only contend for them
    (and PyTorch warns). The cap is logged once, naming the key to set."""
    cores = available_cores()
    if workers <= cores:
        return workers
    if (workers, cores) not in _WORKERS_TOLD:
        _WORKERS_TOLD.add((workers, cores))
        get_root_logger().info(f'data.workers_per_gpu={workers} but this process may use {cores} cores: using '
                               f'{cores} DataLoader workers (set data.workers_per_gpu to choose)')
    return cores
