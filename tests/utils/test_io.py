"""Atomic checkpoint writing: a failed save names the path and leaves the previous file as it was."""
import os

import pytest
import torch

from mmseg.utils.io import CheckpointSaveError, atomic_torch_save


def test_atomic_save_error_keeps_old_file_in_process(tmp_path):
    path = tmp_path / 'ckpt.pth'
    atomic_torch_save({'v': 1}, str(path))
    with pytest.raises(CheckpointSaveError, match='cannot write .*ckpt.pth: .*existing ckpt.pth is unchanged'):
        atomic_torch_save({'v': lambda: 0}, str(path))  # not picklable: fails mid-write
    assert torch.load(path, weights_only=True) == {'v': 1}
    assert os.listdir(tmp_path) == ['ckpt.pth']
