"""Default runs of the shipped configs and tools print no warning: each one left must be one a user can act on."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys
import warnings

import pytest
import torch

from mmseg.utils import Config
from tests.conftest import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'local_configs', 'segnext', 'tiny', 'segnext.tiny.demo.py')
WARNING = re.compile(r'warn', re.I)


def test_shipped_configs_set_no_key_that_only_produces_a_notice():
    for path in glob.glob(osp.join(ROOT, 'local_configs', 'segnext', '**', '*.py'), recursive=True):
        cfg = Config.fromfile(path)
        assert 'pre_eval' not in (cfg.get('evaluation') or {}), path  # "has no effect here"
        assert not cfg.get('find_unused_parameters'), path  # DDP: "did not find any unused parameters"


def test_more_workers_than_cores_are_capped(monkeypatch):
    """ADE20K's workers_per_gpu=4 on a 2-core machine: PyTorch warns; we use as many workers as cores."""
    from mmseg.engine.data import build_eval_loader, build_train_loader
    monkeypatch.setattr('mmseg.utils.threads.available_cores', lambda: 1)
    data = [dict(x=torch.full((1,), float(i))) for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # torch's "will create 3 worker processes" would fail here on <= 2 cores
        train = build_train_loader(data, samples_per_gpu=2, workers_per_gpu=3, seed=0)
        evaluation = build_eval_loader(data, workers_per_gpu=3)
        assert train.num_workers == 1 and evaluation.num_workers == 1
        assert sorted(next(iter(train))['x'].tolist()) != [] and len(list(evaluation)) == 4


@pytest.mark.slow
def test_export_with_the_tools_default_opset_is_quiet(tiny_cfg, tmp_path, capfd):
    pytest.importorskip('onnxscript')
    from mmseg.deploy.onnx_export import export
    from mmseg.models import build_segmentor
    opset = load_script('tools/export_onnx.py').parse_args([DEMO, 'x.pth', '--shape', '64', '64']).opset
    model = build_segmentor(tiny_cfg).eval()
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        export(model, (64, 64), str(tmp_path / 'm.onnx'), opset=opset)
    out = capfd.readouterr()
    assert not caught, [str(w.message) for w in caught]
    assert not WARNING.search(out.out + out.err) and 'opset' not in out.err, out.err  # no 17 -> 18 conversion


def _run(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONWARNINGS='default', PYTHONPATH=ROOT)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    _run([sys.executable, osp.join(ROOT, 'tools', 'make_demo_dataset.py'), str(root / 'data' / 'demo')], ROOT)
    return root


SHORT = ['runner.max_iters=2', 'checkpoint_config.interval=2', 'evaluation.interval=2', 'data.samples_per_gpu=2',
         'lr_config.warmup_iters=1']  # a 2-iteration run with a warmup that fits it (else the schedule check warns)


@pytest.mark.slow
def test_demo_train_and_test_print_no_warning(demo_root):
    """tools/run_demo.sh's two steps, 2 iterations, with Python warnings shown (PYTHONWARNINGS=default)."""
    work = str(demo_root / 'work')
    log = _run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), DEMO, '--work-dir', work, '--seed', '0',
                '--cfg-options'] + SHORT, demo_root)
    log += _run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), DEMO, osp.join(work, 'latest.pth'),
                 '--eval', 'mIoU', '--show-dir', osp.join(work, 'overlays')], demo_root)
    assert 'mIoU' in log
    assert not [ln for ln in log.splitlines() if WARNING.search(ln)]
    assert 'has no effect' not in log


@pytest.mark.slow
def test_dist_train_with_two_processes_prints_no_warning(demo_root):
    """DDP on CPU (gloo): no grad-stride warning (strip-conv weight gradients keep the weight's strides)."""
    log = _run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), DEMO, '2', '--work-dir',
                str(demo_root / 'dist'), '--seed', '0', '--cfg-options'] + SHORT, demo_root)
    assert 'training finished at iteration 2' in log
    assert not [ln for ln in log.splitlines() if WARNING.search(ln)]
