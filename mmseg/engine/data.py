"""Dataloaders for training (infinite, resumable) and evaluation (sharded, in order)."""
import signal
from functools import partial
from typing import Any

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


def build_train_loader(dataset: Dataset, samples_per_gpu: int, workers_per_gpu: int, seed: int,
                       start_samples: int = 0, shuffle: bool = True) -> DataLoader:
    """Infinite loader over this rank's shard; ``start_samples`` skips what a resumed run already consumed."""
    workers_per_gpu = usable_workers(workers_per_gpu)  # no more workers than cores
    rank, world = get_dist_info()
    sampler = InfiniteResumableSampler(len(dataset), seed, rank, world, shuffle=shuffle, start=start_samples)
    init = partial(_worker_init, num_workers=workers_per_gpu, rank=rank, seed=seed) if workers_per_gpu else None
    return DataLoader(SeededDataset(dataset), batch_size=samples_per_gpu, sampler=sampler,
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
    return DataLoader(dataset, batch_size=samples_per_gpu, sampler=ShardSampler(len(dataset), rank, world),
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
