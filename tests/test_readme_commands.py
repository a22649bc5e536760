"""The README's commands, as written, in a checkout-like folder (``tools``, ``local_configs`` linked in); long runs
get smoke options appended (a few iterations). tests/test_readme.py maps every README command to one of these."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.test_readme import README, readme_blocks, readme_commands

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHORT = ['--cfg-options', 'runner.max_iters=2', 'checkpoint_config.interval=2', 'evaluation.interval=2']


def _command(start: str) -> str:
    found = [c for c in readme_commands(open(README).read()) if c.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def _run(cwd, command: str, *extra: str, timeout: int = 600) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONWARNINGS='default')
    args = ' '.join([command] + [f"'{e}'" for e in extra])
    proc = subprocess.run(['bash', '-c', args], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f'{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def checkout(tmp_path_factory):
    """A folder like a fresh clone to run README commands in: tools/ and local_configs/ as links to this one."""
    cwd = tmp_path_factory.mktemp('readme')
    os.symlink(osp.join(ROOT, 'tools'), cwd / 'tools')
    (cwd / 'local_configs').mkdir()
    for name in ('_base_', 'segnext'):
        os.symlink(osp.join(ROOT, 'local_configs', name), cwd / 'local_configs' / name)
    return cwd


@pytest.mark.slow
def test_demo_and_deploy_commands_as_written(checkout):
    # the demo command (pip install: .ci/run), with 2 training iterations
    _run(checkout, _command('pip install -e . && ').split(' && ')[1], 'work_dirs/segnext.tiny.demo', *SHORT)
    assert (checkout / 'work_dirs' / 'segnext.tiny.demo' / 'latest.pth').is_file()
    assert os.listdir(checkout / 'work_dirs' / 'segnext.tiny.demo' / 'overlays')
    pytest.importorskip('onnxruntime')
    _run(checkout, _command('python tools/export_onnx.py'))
    assert 'mIoU' in _run(checkout, _command('python tools/test.py local_configs/segnext/tiny/segnext.tiny.demo.py'))
    _run(checkout, _command('python tools/image_demo.py'))
    assert (checkout / 'overlay.png').is_file()
    os.remove(checkout / 'overlay.png')
    snippet = [body for lang, body in readme_blocks(open(README).read()) if lang == 'python'
               and body.startswith('from mmseg.apis')]
    assert len(snippet) == 1
    subprocess.run([sys.executable, '-c', snippet[0]], cwd=str(checkout), check=True, timeout=300,
                   env=dict(os.environ, PYTHONPATH=ROOT))
    assert (checkout / 'overlay.png').is_file()


@pytest.mark.slow
def test_paper_config_commands_as_written(checkout, monkeypatch):
    """The ADE20K commands on the demo images (ADE20K's layout) linked in as data/ade, with ImageNet-layout
    weights where the config's URL is cached (the README's offline escape: a file at the torch hub cache path is
    used as is; the network is closed in tests); training: 1 iteration of batch 1, no evaluation."""
    from mmseg.datasets.demo import generate_demo_dataset
    from mmseg.models import build_segmentor
    from mmseg.utils import Config
    ade = checkout / 'data' / 'ade'
    ade.mkdir(parents=True, exist_ok=True)
    generate_demo_dataset(str(checkout / 'data' / 'demo'), num_train=8, num_val=4) \
        if not (checkout / 'data' / 'demo').exists() else None
    os.symlink(checkout / 'data' / 'demo', ade / 'ADEChallengeData2016')
    cfg = Config.fromfile(osp.join(ROOT, 'local_configs', 'segnext', 'tiny', 'segnext.tiny.512x512.ade.160k.py'))
    cfg.model.backbone.init_cfg = None
    hub = checkout / 'torch_home' / 'hub' / 'checkpoints'
    hub.mkdir(parents=True)
    torch.save(build_segmentor(cfg.model).backbone.state_dict(), hub / 'mscan_t_20230227-119e8c9f.pth')
    monkeypatch.setenv('TORCH_HOME', str(checkout / 'torch_home'))
    smoke = ['--no-validate', '--cfg-options', 'runner.max_iters=1', 'checkpoint_config.interval=1',
             'data.samples_per_gpu=1', 'data.workers_per_gpu=0']
    _run(checkout, _command('python tools/train.py local_configs/segnext/tiny/segnext.tiny.512x512.ade'), *smoke)
    _run(checkout, _command('./tools/dist_train.sh'), '--work-dir', 'work_dirs/dist', *smoke)
    assert (checkout / 'work_dirs' / 'dist' / 'latest.pth').is_file()
    log = _run(checkout, _command('python tools/test.py local_configs/segnext/tiny/segnext.tiny.512x512.ade'))
    assert 'mIoU' in log
    assert 'MACs:         6.59 G' in _run(checkout, _command('python tools/get_flops.py'))  # the paper's 6.6


@pytest.mark.slow
def test_fine_tune_commands_as_written(checkout):
    """The README config saved as local_configs/mine/segnext.tiny.mine.py, generated data in data/mine; training
    2 iterations at 64x64 (tests/test_readme_custom_dataset.py runs the whole schedule)."""
    from tests.test_readme_custom_dataset import SMALL, _write_shapes, readme_config
    _write_shapes(str(checkout / 'data' / 'mine'), num_train=8, num_val=4)
    (checkout / 'local_configs' / 'mine').mkdir()
    (checkout / 'local_configs' / 'mine' / 'segnext.tiny.mine.py').write_text(readme_config())
    assert 'image' in _run(checkout, _command('python tools/check_dataset.py')).lower()
    _run(checkout, _command('python tools/train.py local_configs/mine/'), *(SHORT + SMALL))
    assert 'mIoU' in _run(checkout, _command('python tools/test.py local_configs/mine/'),
                          '--cfg-options', SMALL[-1].replace('data.val.', 'data.test.'))
    assert os.listdir(checkout / 'work_dirs' / 'segnext.tiny.mine' / 'overlays')
