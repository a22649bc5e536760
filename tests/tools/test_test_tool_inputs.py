"""tools/test.py, tools/dist_test.sh and tools/check_dataset.py refuse bad input before any work, naming it."""
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)


def _load(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


test_tool = _load('_h9_test_tool', 'tools/test.py')
check_tool = _load('_h9_check_tool', 'tools/check_dataset.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A tiny config on its own copy of the demo data, and a checkpoint of its model."""
    from mmseg.datasets import generate_demo_dataset
    from mmseg.models import build_segmentor
    from mmseg.utils.config import Config
    base = tmp_path_factory.mktemp('h9tool')
    root = generate_demo_dataset(str(base / 'demo'), num_train=2, num_val=2, size=(48, 64))
    tiny = _load('_h9_engine_conftest', 'tests/engine/conftest.py').TINY_CONFIG
    cfg_path = base / 'tiny.py'
    cfg_path.write_text(tiny.replace('{data_root}', root))
    torch.manual_seed(0)
    model = build_segmentor(Config.fromfile(str(cfg_path)).model)
    ckpt = base / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    return dict(cfg=str(cfg_path), ckpt=str(ckpt), root=root, base=base)


def _fresh_copy(setup, name):
    """A config whose val/test data is a private copy (so a test may break a label)."""
    root = str(setup['base'] / name)
    shutil.copytree(setup['root'], root)
    cfg = setup['base'] / f'{name}.py'
    cfg.write_text(open(setup['cfg']).read().replace(setup['root'], root))
    return str(cfg), root


def test_eval_typo_and_out_extension_fail_at_parse_time(setup, capsys):
    with pytest.raises(SystemExit):
        test_tool.parse_args([setup['cfg'], setup['ckpt'], '--eval', 'mIOU'])
    assert "unknown metric 'mIOU' (did you mean 'mIoU'?)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        test_tool.parse_args([setup['cfg'], setup['ckpt'], '--out', 'x.xyz'])
    err = capsys.readouterr().err
    assert "--out must name a .pkl/.pickle file" in err and "'x.xyz'" in err
    with pytest.raises(SystemExit):
        test_tool.parse_args([setup['cfg'], str(setup['base'] / 'missing.pth'), '--eval', 'mIoU'])
    assert 'missing.pth does not exist' in capsys.readouterr().err


def test_eval_names_match_the_metrics():
    from mmseg.core.evaluation.metrics import ALLOWED_METRICS
    assert tuple(test_tool.EVAL_METRICS) == tuple(ALLOWED_METRICS)


@pytest.mark.skipif(os.geteuid() == 0, reason='root can write anywhere')
def test_unwritable_show_dir_fails_at_parse_time(setup, tmp_path, capsys):
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(SystemExit):
        test_tool.parse_args([setup['cfg'], setup['ckpt'], '--show-dir', str(locked / 'sub')])
    assert '--show-dir' in capsys.readouterr().err


def test_dir_that_is_a_file_fails_at_parse_time(setup, tmp_path, capsys):
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(SystemExit):
        test_tool.parse_args([setup['cfg'], setup['ckpt'], '--show-dir', str(tmp_path / 'afile' / 'sub')])
    assert '--show-dir: cannot create' in capsys.readouterr().err
    with pytest.raises(SystemExit, match='--work-dir: cannot create'):
        test_tool.main([setup['cfg'], setup['ckpt'], '--eval', 'mIoU', '--work-dir', str(tmp_path / 'afile' / 'w')])


def test_label_value_7_is_an_error_before_inference(setup, tmp_path, monkeypatch):
    cfg, root = _fresh_copy(setup, 'bad7')
    ann = osp.join(root, 'annotations', 'validation', 'demo_00001.png')
    lab = np.array(Image.open(ann))
    lab[0, :3] = 7  # 7 - 1 = class 6 after reduce_zero_label, but the demo has 4 classes
    Image.fromarray(lab).save(ann)
    from mmseg.datasets.preflight import DatasetCheckError
    ran = []
    monkeypatch.setattr('mmseg.apis.single_gpu_test', lambda *a, **k: ran.append(1))
    with pytest.raises(DatasetCheckError) as e:
        test_tool.main([cfg, setup['ckpt'], '--eval', 'mIoU', '--work-dir', str(tmp_path / 'w')])
    assert f'{ann}: value 7 (-> 6)' in str(e.value) and 'label value outside 0..3 and 255' in str(e.value)
    assert not ran  # nothing was inferred
    # with --skip-checks the evaluation itself refuses to score it, naming the file
    monkeypatch.undo()
    with pytest.raises(ValueError, match=rf'ground truth {ann} has value 7 .*4 classes'):
        test_tool.main([cfg, setup['ckpt'], '--eval', 'mIoU', '--work-dir', str(tmp_path / 'w'), '--skip-checks'])


def test_rgb_and_resized_labels_name_the_file(setup, tmp_path):
    cfg, root = _fresh_copy(setup, 'badshape')
    rgb = osp.join(root, 'annotations', 'validation', 'demo_00000.png')
    lab = np.array(Image.open(rgb))
    Image.fromarray(np.stack([lab] * 3, axis=2)).save(rgb)
    small = osp.join(root, 'annotations', 'validation', 'demo_00001.png')
    Image.fromarray(np.array(Image.open(small))[:40]).save(small)
    from mmseg.datasets.preflight import DatasetCheckError
    with pytest.raises(DatasetCheckError) as e:
        test_tool.main([cfg, setup['ckpt'], '--eval', 'mIoU', '--work-dir', str(tmp_path / 'w')])
    msg = str(e.value)
    assert f'{rgb}: has 3 channels' in msg and 'identical' in msg
    assert f'{small}: label 40x64 but image' in msg


def test_test_run_keeps_the_training_config_dump(setup, tmp_path):
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'tiny.py').write_text('# the training run dumped this\n')
    assert test_tool.main([setup['cfg'], setup['ckpt'], '--eval', 'mIoU', '--work-dir', str(work)]) == 0
    assert (work / 'tiny.py').read_text() == '# the training run dumped this\n'
    dumps = [f for f in os.listdir(work) if f.startswith('tiny_test_') and f.endswith('.py')]
    assert len(dumps) == 1


@pytest.mark.parametrize('script', ['dist_test.sh', 'dist_train.sh'])
def test_launchers_print_usage_for_help(script):
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', script), '--help'], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f'usage: tools/{script}') and 'Traceback' not in proc.stdout + proc.stderr
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', script), 'a.py', 'b', 'c'], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 2 and 'GPUS must be a positive integer' in proc.stderr


def test_check_dataset_tool_summary_and_failure(setup, tmp_path, capsys):
    assert check_tool.main([setup['cfg'], '--work-dir', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for piece in ('data.train: 2 images', 'size (h x w): 48..48 x 64..64', 'class pixel histogram',
                  'classes never present', 'ignored (255)', 'no problems found'):
        assert piece in out
    assert check_tool.main([setup['cfg'], '--split', 'val', '--work-dir', str(tmp_path), '--cfg-options',
                            'model.decode_head.num_classes=6']) == 1
    assert 'model.decode_head.num_classes: 6, but data.val (DemoDataset) has 4 classes' in capsys.readouterr().err
