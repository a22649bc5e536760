"""Zoo names in every tool (tools/zoo.py, tools/test.py, tools/image_demo.py, tools/train.py --load-from), served from
a local server through $SEGNEXT_ZOO; and the shipped configs' early offline error in tools/train.py."""
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmseg.models import zoo
from tests.conftest import load_script, randomize_
from tests.http_helpers import serve_folder
from tests.tools.demo_data import DEMO_CONFIG, demo_options, make_demo

ROOT = Path(__file__).resolve().parents[2]
OPTS = {'model.backbone.depths': [1, 1, 1, 1]}


@pytest.fixture(scope='module')
def demo_zoo(tmp_path_factory):
    """Demo data, and a demo-model checkpoint named by its sha256 prefix, served as zoo entry 'demo_test'."""
    from mmseg.apis import init_segmentor
    base = tmp_path_factory.mktemp('zoo_tools')
    root = make_demo(base / 'demo', num_train=2, num_val=2)
    model = randomize_(init_segmentor(DEMO_CONFIG, cfg_options=OPTS, fuse=False), seed=3)
    served = base / 'served'
    served.mkdir()
    tmp = served / 'demo.pth'
    torch.save({'meta': {'CLASSES': list(model.CLASSES)}, 'state_dict': model.state_dict()}, tmp)
    name = f'demo_t-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth'
    tmp.rename(served / name)
    with serve_folder(served) as srv:
        table = base / 'zoo.json'
        table.write_text(json.dumps([dict(name='demo_test', url=f"{srv['url']}/{name}", config=DEMO_CONFIG,
                                          dataset='DemoDataset', num_classes=4, miou=50.0)]))
        yield dict(srv=srv, table=str(table), name=name, root=root, base=base, model=model)


@pytest.fixture
def env(demo_zoo, tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.ZOO_ENV, demo_zoo['table'])
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return dict(os.environ)


def test_zoo_list_and_download(env, demo_zoo, tmp_path):
    tool = [sys.executable, str(ROOT / 'tools' / 'zoo.py')]
    listing = subprocess.run(tool + ['list'], capture_output=True, text=True, timeout=60, env=env)
    assert listing.returncode == 0
    row = next(line for line in listing.stdout.splitlines() if line.startswith('segnext_mscan-b_ade20k'))
    assert row.split()[1:5] == ['ADE20K', '150', '48.03', '49.68']
    assert 'demo_test' in listing.stdout
    n = len(demo_zoo['srv']['requests'])
    got = subprocess.run(tool + ['download', 'demo_test', '--dir', str(tmp_path / 'd')], capture_output=True,
                         text=True, timeout=60, env=env)
    assert got.returncode == 0, got.stderr
    path = got.stdout.strip().splitlines()[-1]  # the last line is where the file went
    assert path == str(tmp_path / 'd' / demo_zoo['name']) and Path(path).is_file()
    assert f"downloaded {demo_zoo['srv']['url']}/{demo_zoo['name']} to {path}" in got.stdout
    again = subprocess.run(tool + ['download', 'demo_test', '--dir', str(tmp_path / 'd')], capture_output=True,
                           text=True, timeout=60, env=env)
    assert again.stdout.strip().splitlines()[-1] == path and len(demo_zoo['srv']['requests']) == n + 1  # once
    typo = subprocess.run(tool + ['download', 'demo_tset'], capture_output=True, text=True, timeout=60, env=env)
    assert typo.returncode == 2 and "did you mean 'demo_test'" in typo.stderr


def test_test_tool_and_image_demo_take_a_zoo_name(env, demo_zoo, tmp_path):
    test_tool = load_script('tools/test.py')
    args = demo_options(demo_zoo['root']) + ['data.test.pipeline.1.img_scale=(64,64)']
    work = tmp_path / 'work'
    assert test_tool.main([DEMO_CONFIG, 'demo_test', '--eval', 'mIoU', '--work-dir', str(work)] + args) == 0
    result = json.loads(next(work.glob('eval_*.json')).read_text())
    assert result['checkpoint'].endswith(f"hub/checkpoints/{demo_zoo['name']}") and 'mIoU' in result['metric']
    with pytest.raises(SystemExit):
        test_tool.parse_args([DEMO_CONFIG, 'demo_tset', '--eval', 'mIoU'])

    import cv2
    demo = load_script('tools/image_demo.py')
    cv2.imwrite(str(tmp_path / 'in.png'), np.random.RandomState(0).randint(0, 256, (48, 64, 3), dtype=np.uint8))
    out = tmp_path / 'overlay.png'
    assert demo.main([str(tmp_path / 'in.png'), DEMO_CONFIG, 'demo_test', '--out-file', str(out), '--cfg-options',
                      'model.backbone.depths=[1,1,1,1]']) == 0
    assert cv2.imread(str(out)) is not None


def test_convert_tool_takes_a_zoo_name(env, demo_zoo, tmp_path):
    tool = load_script('tools/convert_checkpoint.py')
    assert tool.main(['demo_test', str(tmp_path / 'out.pth'), '--layout', 'mmseg']) == 0
    out = torch.load(tmp_path / 'out.pth', weights_only=True)
    assert out['meta']['CLASSES'] == list(demo_zoo['model'].CLASSES)
    assert any('.mlp.dwconv.weight' in k for k in out['state_dict'])
    with pytest.raises(SystemExit, match="did you mean 'demo_test'"):
        tool.main(['demo_tset', str(tmp_path / 'x.pth')])


def test_test_tool_names_unknown_zoo_name(env, capsys):
    test_tool = load_script('tools/test.py')
    with pytest.raises(SystemExit):
        test_tool.parse_args([DEMO_CONFIG, 'segnext_mscan-t_ade2k', '--eval', 'mIoU'])
    assert "did you mean 'segnext_mscan-t_ade20k'" in capsys.readouterr().err


@pytest.mark.slow
def test_train_load_from_zoo_name(env, demo_zoo, tmp_path, caplog, capsys):
    train = load_script('tools/train.py')
    assert train.main([DEMO_CONFIG, '--load-from', 'demo_tset', '--work-dir', str(tmp_path / 'x')]) == 2
    assert "did you mean 'demo_test'" in capsys.readouterr().err
    caplog.set_level(logging.INFO, logger='mmseg')
    opts = demo_options(demo_zoo['root'])
    assert train.main([DEMO_CONFIG, '--load-from', 'demo_test', '--work-dir', str(tmp_path / 'w'), '--no-validate',
                       '--seed', '0'] + opts + ['runner.max_iters=1', 'data.samples_per_gpu=1',
                                                'checkpoint_config.interval=1', 'log_config.interval=1']) == 0
    assert "loaded 208/208 tensors" in caplog.text and f"hub/checkpoints/{demo_zoo['name']}" in caplog.text


def test_train_with_shipped_config_offline_fails_early_and_clearly(tmp_path):
    env = dict(os.environ, TORCH_HOME=str(tmp_path / 'th'))  # conftest's mirror: https:// -> closed local port
    cfg = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py'
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'train.py'), str(cfg), '--work-dir',
                           str(tmp_path / 'w')], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith('error: pretrained weights: cannot download checkpoint https://download.openmmlab.com/'
                          'mmsegmentation/v0.5/pretrain/segnext/mscan_t_20230227-119e8c9f.pth')
    assert f"Put the file at {tmp_path / 'th'}/hub/checkpoints/mscan_t_20230227-119e8c9f.pth" in err
    assert '--cfg-options model.backbone.init_cfg.checkpoint=pretrained/mscan_t.pth' in err
    assert 'Traceback' not in proc.stderr and 'data/ade' not in proc.stderr  # before the dataset is touched
