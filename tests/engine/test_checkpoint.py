"""Training checkpoints: atomic writes, weights_only loading, RNG round trip, latest pointer."""
import os
import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmseg.engine import checkpoint as ckpt_mod
from mmseg.engine import (find_latest_checkpoint, get_rng_state, resume_checkpoint, save_checkpoint,
                          set_rng_state)


def _model_opt():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    return model, opt


def test_save_is_weights_only_loadable_and_resumes(tmp_path):
    model, opt = _model_opt()
    scaler = torch.amp.GradScaler('cpu', init_scale=128.)
    meta = dict(iter=7, seed=3, config='a = 1\n', rng=[get_rng_state()], sampler={'seed': 3, 'consumed': 14})
    path = str(tmp_path / 'iter_7.pth')
    save_checkpoint(path, model, opt, meta, scaler)
    loaded = torch.load(path, weights_only=True)  # raises if anything is not a plain type or tensor
    assert set(loaded) == {'meta', 'state_dict', 'optimizer', 'scaler'}
    assert loaded['meta']['iter'] == 7 and isinstance(loaded['meta']['time'], str)
    assert 'mmseg_version' in loaded['meta']
    expected_draw = torch.rand(3)  # the saved RNG state precedes this draw

    model2 = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-3)
    scaler2 = torch.amp.GradScaler('cpu')
    meta2 = resume_checkpoint(path, model2, opt2, scaler2)
    assert meta2['sampler'] == {'seed': 3, 'consumed': 14}
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k
    assert opt2.state_dict()['state'][0]['step'] == opt.state_dict()['state'][0]['step']
    assert torch.equal(opt2.state_dict()['state'][0]['exp_avg'], opt.state_dict()['state'][0]['exp_avg'])
    assert scaler2.get_scale() == 128.
    assert torch.equal(torch.rand(3), expected_draw)
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'latest.pth')
    assert torch.load(tmp_path / 'latest.pth', weights_only=True)['meta']['iter'] == 7


def test_crash_during_save_keeps_previous_file(tmp_path, monkeypatch):
    model, opt = _model_opt()
    path = str(tmp_path / 'iter_1.pth')
    save_checkpoint(path, model, opt, dict(iter=1))
    before = open(path, 'rb').read()

    def torn_save(obj, f):
        f.write(b'partial bytes')
        raise OSError('disk full')

    monkeypatch.setattr(ckpt_mod.torch, 'save', torn_save)
    with torch.no_grad():
        model[0].weight.add_(1.)
    with pytest.raises(OSError, match='disk full'):
        save_checkpoint(path, model, opt, dict(iter=2))
    monkeypatch.undo()
    assert open(path, 'rb').read() == before
    assert torch.load(path, weights_only=True)['meta']['iter'] == 1
    assert sorted(os.listdir(tmp_path)) == ['iter_1.pth', 'latest.pth']  # no temp file left behind


def test_rng_state_round_trip():
    state = get_rng_state()
    draws = (torch.rand(2), np.random.rand(2), random.random())
    set_rng_state(state)
    again = (torch.rand(2), np.random.rand(2), random.random())
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1]) and draws[2] == again[2]


def test_find_latest_without_pointer(tmp_path):
    assert find_latest_checkpoint(str(tmp_path)) is None
    for n in (2, 10, 4):
        (tmp_path / f'iter_{n}.pth').write_bytes(b'')
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        resume_checkpoint(str(tmp_path / 'nope.pth'), nn.Linear(1, 1))
