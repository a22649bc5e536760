"""Dataloaders for training (infinite, resumable) and evaluation (sharded, in order).

Their workers ignore SIGTERM/SIGINT (see :func:`_worker_init`), so nothing may leave them to the interpreter's
exit: ``multiprocessing`` terminates daemonic children with SIGTERM at exit and then joins them, which waits
forever, and an exception raised in a worker keeps its iterator alive in the traceback. Every loader built here
records its iterators; :func:`shutdown_workers` stops them on every exit path (the trainer's ``finally``, the
evaluation's ``finally``, ``tools/train.py`` and, as a last resort, an ``atexit`` handler that runs before
PyTorch's own, after which PyTorch would no longer shut them down).
"""
import atexit
import signal
import weakref
from functools import partial
from typing import Any, Optional

import torch
from torch.utils.data import DataLoader, Dataset

from ..utils import get_dist_info
from ..utils.threads import usable_workers
from ..datasets import collate, worker_init_fn
from .sampler import InfiniteResumableSampler, SeededDataset, ShardSampler


def _worker_init(worker_id: int, **seeding: Any) -> None:
    """Workers leave SIGTERM/SIGINT to the main process: a signal to the whole process group (scancel, timeout,
    Ctrl-C) must not kill them under the trainer, which finishes the iteration and saves before it exits."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..utils.threads import limit_worker_threads
    limit_worker_threads()  # one OMP/MKL thread, no OpenCV pool: N workers x all cores oversubscribes the CPU
    if seeding:
        worker_init_fn(worker_id, **seeding)


_ITERATORS: 'weakref.WeakKeyDictionary[Any, int]' = weakref.WeakKeyDictionary()  # live iterator -> id(loader)


class TrackedLoader(DataLoader):
    """A ``DataLoader`` whose worker iterators :func:`shutdown_workers` can find and stop."""

    def _get_iterator(self):
        it = super()._get_iterator()
        if hasattr(it, '_shutdown_workers'):
            _ITERATORS[it] = id(self)
        return it


def shutdown_workers(loader: Optional[DataLoader] = None, timeout: float = 5.) -> int:
    """Stop the worker processes of ``loader``'s live iterators (of every tracked loader when ``None``).

    Workers get PyTorch's shutdown sentinel and ``timeout`` seconds to exit; a worker still alive then (busy in a
    slow transform) is killed, since it ignores SIGTERM. Returns the number of iterators shut down.
    """
    n = 0
    for it, owner in list(_ITERATORS.items()):
        if loader is not None and owner != id(loader):
            continue
        _ITERATORS.pop(it, None)
        workers = list(getattr(it, '_workers', []))
        try:
            it._shutdown_workers()
        finally:
            for w in workers:
                if w.is_alive():
                    w.kill()
                    w.join(timeout)
        n += 1
    return n


atexit.register(shutdown_workers)  # registered after PyTorch's own handler, so it runs before it


def build_train_loader(dataset: Dataset, samples_per_gpu: int, workers_per_gpu: int, seed: int,
                       start_samples: int = 0, shuffle: bool = True) -> DataLoader:
    """Infinite loader over this rank's shard; ``start_samples`` skips what a resumed run already consumed."""
    workers_per_gpu = usable_workers(workers_per_gpu)  # no more workers than cores
    rank, world = get_dist_info()
    sampler = InfiniteResumableSampler(len(dataset), seed, rank, world, shuffle=shuffle, start=start_samples)
    init = partial(_worker_init, num_workers=workers_per_gpu, rank=rank, seed=seed) if workers_per_gpu else None
    return TrackedLoader(SeededDataset(dataset), batch_size=samples_per_gpu, sampler=sampler,
                      num_workers=workers_per_gpu, collate_fn=collate, worker_init_fn=init,
                      pin_memory=torch.cuda.is_available(), persistent_workers=workers_per_gpu > 0,
                      # own generator: creating the iterator must not consume the global RNG (exact resume)
                      generator=torch.Generator().manual_seed(seed))


def build_eval_loader(dataset: Dataset, samples_per_gpu: int = 1, workers_per_gpu: int = 0,
                      distributed: bool = None) -> DataLoader:
    """In-order loader; distributed: each rank its ``rank::world`` shard (padded, evaluator de-duplicates)."""
    workers_per_gpu = usable_workers(workers_per_gpu)
    rank, world = get_dist_info()
    if not distributed:
        rank, world = 0, 1
    return TrackedLoader(dataset, batch_size=samples_per_gpu, sampler=ShardSampler(len(dataset), rank, world),
                      num_workers=workers_per_gpu, collate_fn=collate, shuffle=False,
                      worker_init_fn=_worker_init if workers_per_gpu else None,
                      pin_memory=torch.cuda.is_available(), generator=torch.Generator().manual_seed(0))


def to_device(data: Any, device: torch.device, channels_last: bool = False) -> Any:
    """Move the tensors of a collated batch to ``device`` (``img_metas`` untouched); ``channels_last`` for ``img``."""
    if isinstance(data, torch.Tensor):
        data = data.to(device, non_blocking=True)
        return data.contiguous(memory_format=torch.channels_last) if channels_last and data.dim() == 4 else data
    if isinstance(data, dict):
        return {k: v if k == 'img_metas' else to_device(v, device, channels_last and k == 'img')
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(to_device(d, device, channels_last) for d in data)
    return data
