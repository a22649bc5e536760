"""Faults as they happen, in real ``tools/train.py`` processes: a failing evaluation, a second Ctrl-C, SIGTERM to
the whole process group (DataLoader workers included), a save killed by SIGKILL, a full disk, no permission.
After each one, nothing already written is lost and ``--resume`` ends bit-identical to an uninterrupted run."""
import glob
import os
import os.path as osp
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import torch

from mmseg.utils.io import atomic_torch_save

pytestmark = pytest.mark.slow
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
HERE = osp.dirname(osp.abspath(__file__))


def _with_hooks(base, folder, hooks):
    """A config that adds ``custom_hooks`` (from tests/engine/fault_hooks.py) to ``base``."""
    path = osp.join(str(folder), 'with_hooks.py')
    with open(path, 'w') as f:
        f.write(f"_base_ = '{base}'\ncustom_imports = dict(imports=['fault_hooks'])\ncustom_hooks = {hooks}\n")
    return path


def _cmd(config, work_dir, *extra):
    return [sys.executable, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', str(work_dir), '--seed', '3',
            *extra]


def _env():
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH', ''))


def _run(config, work_dir, *extra, expect=0):
    proc = subprocess.run(_cmd(config, work_dir, *extra), cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == expect, out[-4000:]
    return out


def _start(config, work_dir, *extra):
    """A training process in its own session (so the test can signal its whole process group)."""
    return subprocess.Popen(_cmd(config, work_dir, *extra), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(path, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while not osp.exists(path):
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        assert time.monotonic() < deadline, f'{path} never appeared'
        time.sleep(0.05)


def _weights(path):
    return torch.load(path, weights_only=True)['state_dict']


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.fixture(scope='module')
def straight(tiny_config, tmp_path_factory):
    """The uninterrupted reference: 6 iterations, checkpoint + evaluation every 3."""
    wd = tmp_path_factory.mktemp('straight')
    _run(tiny_config, wd)
    return wd


def _resume_and_compare(config, work_dir, straight, *extra):
    out = _run(config, work_dir, '--resume', *extra)
    _assert_same_weights(straight / 'iter_6.pth', work_dir / 'iter_6.pth')
    assert not glob.glob(str(work_dir / '.tmp_*'))
    return out


def test_evaluation_error_after_checkpoint_then_exact_resume(tiny_config, demo_root, straight, tmp_path):
    image = sorted(glob.glob(osp.join(demo_root, 'images', 'validation', '*')))[0]
    original = open(image, 'rb').read()
    try:
        with open(image, 'wb') as f:
            f.write(original[:len(original) // 3])  # a truncated validation image
        # the preflight would refuse the truncated image before training: skip it to let evaluation meet it
        out = _run(tiny_config, tmp_path, '--skip-checks', expect=1)
        assert 'evaluation at iteration 3 failed' in out and osp.basename(image) in out
        assert torch.load(tmp_path / 'iter_3.pth', weights_only=True)['meta']['iter'] == 3  # written before eval
        _assert_same_weights(straight / 'iter_3.pth', tmp_path / 'iter_3.pth')
        cont = _run(tiny_config, tmp_path / 'cont', '--skip-checks', '--cfg-options', 'evaluation.on_error=continue')
        assert cont.count('training continues (evaluation.on_error=continue)') == 2  # iterations 3 and 6
        _assert_same_weights(straight / 'iter_6.pth', tmp_path / 'cont' / 'iter_6.pth')
    finally:
        with open(image, 'wb') as f:
            f.write(original)
    _resume_and_compare(tiny_config, tmp_path, straight)


def test_second_ctrl_c_never_overwrites_a_checkpoint(tiny_config, straight, tmp_path):
    marker = tmp_path / 'paused'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='PauseAt', at=4, marker='{marker}', stage='before_step', "
                                             'until_signal=False)]')
    proc = _start(cfg, wd)
    _wait_for(marker, proc)  # iteration 3 is saved, iteration 5 is about to run
    before = {p: open(p, 'rb').read() for p in (wd / 'iter_3.pth', wd / 'latest.pth')}
    proc.send_signal(signal.SIGINT)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C: stop at once
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGINT, out[-4000:]
    assert 'aborted by a second signal' in out
    for p, data in before.items():
        assert open(p, 'rb').read() == data, p
    assert sorted(os.listdir(wd)) == sorted(f for f in os.listdir(wd) if not f.startswith('.tmp_'))
    assert not osp.exists(wd / 'iter_4.pth') and not osp.exists(wd / 'iter_5.pth')
    _resume_and_compare(tiny_config, wd, straight)


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_signal_to_process_group_with_workers_saves_last_iteration(tiny_config, straight, tmp_path, signum):
    marker = tmp_path / 'paused'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='PauseAt', at=2, marker='{marker}')]")
    proc = _start(cfg, wd, '--cfg-options', 'data.workers_per_gpu=2')
    _wait_for(marker, proc)
    os.killpg(proc.pid, signum)  # the trainer, its DataLoader workers: everyone
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signum, out[-4000:]
    assert 'DataLoader worker' not in out
    assert torch.load(wd / 'iter_2.pth', weights_only=True)['meta']['iter'] == 2
    assert torch.load(wd / 'latest.pth', weights_only=True)['meta']['iter'] == 2
    _resume_and_compare(tiny_config, wd, straight, '--cfg-options', 'data.workers_per_gpu=2')


def test_save_killed_by_sigkill_leaves_temp_removed_on_next_start(tiny_config, straight, tmp_path):
    wd = tmp_path / 'wd'
    wd.mkdir()
    shutil.copy(straight / 'iter_3.pth', wd / 'iter_3.pth')
    code = ('import sys, torch; from mmseg.utils.io import atomic_torch_save; '
            'atomic_torch_save({"x": torch.zeros(2 ** 28)}, sys.argv[1])')
    saver = subprocess.Popen([sys.executable, '-c', code, str(wd / 'big.pth')], cwd=ROOT)
    deadline = time.monotonic() + 120
    while not glob.glob(str(wd / '.tmp_*')):
        assert saver.poll() is None and time.monotonic() < deadline, 'the save finished before it could be killed'
        time.sleep(0.001)
    saver.kill()
    saver.wait()
    assert glob.glob(str(wd / '.tmp_*')) and not osp.exists(wd / 'big.pth')
    out = _resume_and_compare(tiny_config, wd, straight)
    assert 'removed 1 temp file(s) of interrupted saves' in out


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / 'small_disk'
    mnt.mkdir()
    if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', str(mnt)], capture_output=True).returncode:
        pytest.skip('mounting a small tmpfs needs root (CAP_SYS_ADMIN)')
    try:
        yield mnt
    finally:
        subprocess.run(['umount', '-l', str(mnt)], check=False)


def test_disk_full_names_the_path_and_keeps_the_previous_checkpoint(tiny_config, straight, small_disk):
    wd = small_disk / 'wd'
    cfg = _with_hooks(tiny_config, small_disk, "[dict(type='FillDiskAt', at=4, leave_bytes=131072)]")
    out = _run(cfg, wd, expect=1)
    assert f'cannot write {wd / "iter_6.pth"}: no space left on device' in out
    assert f'the last checkpoint written is {wd / "iter_3.pth"}' in out
    assert not glob.glob(str(wd / '.tmp_*')) and not osp.exists(wd / 'iter_6.pth')
    _assert_same_weights(straight / 'iter_3.pth', wd / 'latest.pth')
    os.remove(wd / 'filler.bin')
    _resume_and_compare(tiny_config, wd, straight)


@pytest.fixture
def root_owned_dir():
    folder = tempfile.mkdtemp(prefix='segnext_ro_')
    os.chmod(folder, 0o755)  # owned by root: another user may read it but cannot create files in it
    yield pathlib.Path(folder)
    shutil.rmtree(folder)


def test_permission_error_names_the_path_and_keeps_the_file(root_owned_dir):
    if os.geteuid() != 0:
        pytest.skip('needs root to run the writer as another user')
    folder = root_owned_dir
    atomic_torch_save({'v': torch.ones(2)}, str(folder / 'latest.pth'))
    code = ('import os, sys, torch; from mmseg.utils.io import atomic_torch_save; '
            'os.setgid(65534); os.setuid(65534); '  # become "nobody" once the interpreter (under /root) is loaded
            'atomic_torch_save({"v": torch.zeros(2)}, sys.argv[1])')
    proc = subprocess.run([sys.executable, '-c', code, str(folder / 'latest.pth')], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert f'CheckpointSaveError: cannot write {folder / "latest.pth"}: Permission denied; the existing ' \
           'latest.pth is unchanged' in proc.stderr
    assert torch.equal(torch.load(folder / 'latest.pth', weights_only=True)['v'], torch.ones(2))
