"""tools/train.py + tools/test.py through dist_train.sh / dist_test.sh: 2-process gloo torchrun on CPU."""
import importlib.util
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _engine_conftest():
    spec = importlib.util.spec_from_file_location('_engine_conftest', osp.join(ROOT, 'tests', 'engine',
                                                                                'conftest.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def tiny_cfg(tmp_path_factory):
    from mmseg.datasets import generate_demo_dataset
    root = generate_demo_dataset(str(tmp_path_factory.mktemp('demo')), num_train=8, num_val=3, size=(48, 64))
    path = tmp_path_factory.mktemp('cfg') / 'tiny.py'
    path.write_text(_engine_conftest().TINY_CONFIG.replace('{data_root}', root))
    return str(path)


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _run(script, *args):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', PORT=_free_port())
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_dist_train_resume_equals_uninterrupted_and_dist_test(tiny_cfg, tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    log = _run('dist_train.sh', tiny_cfg, '2', '--work-dir', str(a), '--seed', '3')
    assert 'PyTorch:' in log and 'torch threads:' in log  # environment logged
    assert (a / 'tiny.py').is_file()  # resolved config dumped
    assert log.count('training finished') == 1  # rank 1 stays quiet
    # an "interrupted" run: only the iteration-3 checkpoint survives; bare --resume finds it
    b.mkdir()
    shutil.copy(a / 'iter_3.pth', b / 'iter_3.pth')
    _run('dist_train.sh', tiny_cfg, '2', '--work-dir', str(b), '--resume')
    wa = torch.load(a / 'iter_6.pth', weights_only=True)['state_dict']
    wb = torch.load(b / 'iter_6.pth', weights_only=True)['state_dict']
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert len(torch.load(a / 'iter_6.pth', weights_only=True)['meta']['rng']) == 2  # one RNG state per rank

    out = _run('dist_test.sh', tiny_cfg, str(a / 'iter_6.pth'), '2', '--eval', 'mIoU', '--work-dir',
               str(tmp_path / 't'))
    assert out.count('per class results') == 1
    for name in ('background', 'disk', 'square', 'triangle', 'mIoU', 'aAcc'):
        assert name in out
    assert any(f.startswith('eval_') for f in os.listdir(tmp_path / 't'))


def test_aug_test_sets_ratios_and_flip(tiny_cfg):
    sys.path.insert(0, ROOT)
    from tools.test import AUG_TEST_RATIOS, set_aug_test
    from mmseg.utils.config import Config
    cfg = Config.fromfile(tiny_cfg)
    set_aug_test(cfg)
    aug = [s for s in cfg.data.test.pipeline if s['type'] == 'MultiScaleFlipAug'][0]
    assert aug['img_ratios'] == AUG_TEST_RATIOS == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert aug['flip'] is True
    cfg.data.test.pipeline = [dict(type='LoadImageFromFile')]
    with pytest.raises(KeyError, match='MultiScaleFlipAug'):
        set_aug_test(cfg)
