"""setup_threads and the DataLoader workers' thread limits."""
import os

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mmseg.utils.threads import available_cores, setup_threads


class ThreadCounts(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        import cv2
        return torch.tensor([torch.get_num_threads(), cv2.getNumThreads(), int(os.environ.get('OMP_NUM_THREADS', -1))])


def test_setup_threads_sets_and_defaults_to_affinity(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert setup_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
        n = setup_threads()
        assert n == len(os.sched_getaffinity(0)) == available_cores() and torch.get_num_threads() == n
        monkeypatch.setenv('OMP_NUM_THREADS', '1')  # the environment's choice wins over the default
        assert setup_threads() == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match='threads must be >= 1'):
            setup_threads(0)
    finally:
        torch.set_num_threads(before)


def test_dataloader_workers_run_one_thread():
    from mmseg.engine.data import _worker_init
    loader = DataLoader(ThreadCounts(), batch_size=1, num_workers=1, worker_init_fn=_worker_init)
    for counts in loader:
        torch_threads, cv2_threads, omp = counts[0].tolist()
        assert torch_threads == 1 and omp == 1
        assert cv2_threads <= 1  # setNumThreads(0): OpenCV runs its functions sequentially
