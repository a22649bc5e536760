"""Resumable infinite training sampler and per-sample seeding.

The training stream is a function of (seed, rank, position) only: epoch ``e`` is a permutation drawn from
``seed + e`` (the same on every rank), padded to a multiple of the world size and sharded ``rank::world``
like ``DistributedSampler``. Each yielded item carries a sample seed, so the random augmentation of a sample
does not depend on which dataloader worker loads it or whether the run was resumed.
"""
import random
from typing import Iterator, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info


class InfiniteResumableSampler(Sampler):
    """Yield ``(dataset_index, sample_seed)`` forever, starting after ``start`` items of this rank's stream."""

    def __init__(self, size: int, seed: int, rank: int = 0, world_size: int = 1, shuffle: bool = True,
                 start: int = 0) -> None:
        if size <= 0:
            raise ValueError('the training dataset is empty')
        self.size, self.seed, self.rank, self.world = size, int(seed), rank, world_size
        self.shuffle = shuffle
        self.per_rank = -(-size // world_size)  # ceil
        self.start = int(start)

    def epoch_indices(self, epoch: int) -> list:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + epoch)
            idx = torch.randperm(self.size, generator=g).tolist()
        else:
            idx = list(range(self.size))
        total = self.per_rank * self.world
        idx += idx[:total - len(idx)]  # pad like DistributedSampler
        return idx[self.rank:total:self.world]

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        pos = self.start
        epoch, offset = divmod(pos, self.per_rank)
        while True:
            shard = self.epoch_indices(epoch)
            for k in range(offset, self.per_rank):
                # sample seed: distinct per (seed, rank, global stream position), fits in 32 bits for numpy
                s = (self.seed * 1_000_003 + (pos * self.world + self.rank) * 7919) % (2 ** 32)
                yield shard[k], s
                pos += 1
            epoch, offset = epoch + 1, 0

    def __len__(self) -> int:  # DataLoader needs a length only for progress bars; the stream is infinite
        return 2 ** 62


class SeededDataset(Dataset):
    """Index with ``(i, seed)``: seed numpy/python/torch, then return ``dataset[i]``.

    In the main process (``num_workers=0``) the global RNG states are restored afterwards so the model's
    own randomness (drop path, NMF) is unaffected by data loading.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, item):
        idx, seed = item
        in_main = get_worker_info() is None
        if in_main:
            saved = (np.random.get_state(), random.getstate(), torch.get_rng_state())
        np.random.seed(seed)
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            return self.dataset[idx]
        finally:
            if in_main:
                np.random.set_state(saved[0])
                random.setstate(saved[1])
                torch.set_rng_state(saved[2])


class ShardSampler(Sampler):
    """Evaluation sampler: contiguous-free ``rank::world`` shard of ``range(size)`` padded to equal length.

    Padding repeats early indices; the evaluator de-duplicates by index so each sample counts once.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.rank, self.world = size, rank, world_size
        self.per_rank = -(-size // world_size) if size else 0

    def indices(self) -> list:
        idx = list(range(self.size))
        total = self.per_rank * self.world
        if idx:
            while len(idx) < total:
                idx += idx[:total - len(idx)]
        return idx[self.rank:total:self.world]

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        return self.per_rank
