"""Faults as they happen, in real ``tools/train.py`` processes: a failing evaluation, an error in a DataLoader
worker, a second Ctrl-C, SIGTERM/SIGINT/SIGUSR1 to the whole process group (DataLoader workers included), a signal
during a long evaluation, a save killed by SIGKILL, a truncated newest checkpoint, a second run on the same work
dir, a full disk, no permission. After each one, nothing already written is lost, no process is left behind, and
``--resume`` ends bit-identical to an uninterrupted run."""
import glob
import os
import os.path as osp
import pathlib
import shutil
import signal
import socket
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


def _env(**extra):
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH', ''),
                **extra)


def _run(config, work_dir, *extra, expect=0):
    proc = subprocess.run(_cmd(config, work_dir, *extra), cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == expect, out[-4000:]
    return out


def _start(config, work_dir, *extra, env=None):
    """A training process in its own session (so the test can signal its whole process group)."""
    return subprocess.Popen(_cmd(config, work_dir, *extra), cwd=ROOT, env=env or _env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _finish_alone(proc, timeout=120, expect=None):
    """Wait for ``proc`` (started by :func:`_start`); then nothing of its process group (its DataLoader workers)
    may be left after a few seconds. A hang fails the test (and is killed) instead of blocking it."""
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f'the trainer hung for {timeout} s: ' + proc.communicate()[0][-4000:])
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid):
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError('processes of the trainer were left behind: ' + out[-2000:])
        time.sleep(0.1)
    if expect is not None:
        assert proc.returncode == expect, out[-4000:]
    return out


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
    out = _run(tiny_config, wd, '--resume')  # the requeue command on an empty work dir: starts from 0
    assert f'no checkpoint in {wd}: starting from iteration 0' in out
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
        # the preflight would refuse the truncated image before training: skip it to let evaluation meet it; with a
        # validation worker, which must not keep the process from exiting
        t0 = time.monotonic()
        out = _finish_alone(_start(tiny_config, tmp_path, '--skip-checks', '--cfg-options', 'data.workers_per_gpu=1'),
                            expect=1)
        assert time.monotonic() - t0 < 90
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


def test_error_in_a_dataloader_worker_exits_at_once(tiny_config, demo_root, tmp_path):
    import numpy as np
    from PIL import Image
    root = tmp_path / 'data'
    shutil.copytree(demo_root, root)
    label = root / 'annotations' / 'training' / 'demo_00001.png'
    values = np.array(Image.open(label))
    values[:4, :4] = 9  # 8 after reduce_zero_label: beyond the 4 classes
    Image.fromarray(values).save(label)
    cfg = tmp_path / 'bad_label.py'
    cfg.write_text(open(tiny_config).read().replace(demo_root, str(root)))
    out = _finish_alone(_start(str(cfg), tmp_path / 'wd', '--skip-checks', '--cfg-options', 'data.workers_per_gpu=1'),
                        timeout=90, expect=1)
    assert f'ValueError: label file {label} has value 8' in out
    assert not osp.exists(tmp_path / 'wd' / '.train.lock')


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


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_signal_to_process_group_with_workers_saves_last_iteration(tiny_config, straight, tmp_path, signum):
    marker = tmp_path / 'paused'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='PauseAt', at=2, marker='{marker}')]")
    env = _env()
    if signum == signal.SIGUSR1:  # a SLURM job warned before its end: requeued through a recording scontrol
        bin_dir = tmp_path / 'bin'
        bin_dir.mkdir()
        (bin_dir / 'scontrol').write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "scontrol_args"}\n')
        os.chmod(bin_dir / 'scontrol', 0o755)
        env = _env(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', SLURM_JOB_ID='4242')
    else:
        env.pop('SLURM_JOB_ID', None)
    proc = _start(cfg, wd, '--cfg-options', 'data.workers_per_gpu=2', '--requeue-on-signal', env=env)
    _wait_for(marker, proc)
    os.killpg(proc.pid, signum)  # the trainer, its DataLoader workers: everyone
    out = _finish_alone(proc, expect=128 + signum)
    assert 'DataLoader worker' not in out
    if signum == signal.SIGUSR1:
        assert open(tmp_path / 'scontrol_args').read().split() == ['requeue', '4242']
        assert 'requeued SLURM job 4242' in out
    else:
        assert 'not running under SLURM (no SLURM_JOB_ID): nothing to requeue' in out
    assert torch.load(wd / 'iter_2.pth', weights_only=True)['meta']['iter'] == 2
    assert torch.load(wd / 'latest.pth', weights_only=True)['meta']['iter'] == 2
    _resume_and_compare(tiny_config, wd, straight, '--cfg-options', 'data.workers_per_gpu=2')


def test_signal_during_a_long_evaluation_stops_it_at_once(tiny_config, straight, tmp_path):
    marker = tmp_path / 'evaluating'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='SlowEvaluation', marker='{marker}', seconds=300)]")
    proc = _start(cfg, wd)
    _wait_for(marker, proc)  # inside the evaluation of iteration 3, which would take 5 minutes
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    out = _finish_alone(proc, timeout=60, expect=128 + signal.SIGTERM)
    assert time.monotonic() - t0 < 30
    assert 'evaluation at iteration 3 stopped by signal 15' in out
    assert 'training stopped by signal 15 at iteration 3' in out
    assert torch.load(wd / 'latest.pth', weights_only=True)['meta']['iter'] == 3
    _resume_and_compare(tiny_config, wd, straight)


def test_second_run_on_the_same_work_dir_stops_before_any_work(tiny_config, tmp_path):
    marker = tmp_path / 'paused'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='PauseAt', at=1, marker='{marker}')]")
    first = _start(cfg, wd)
    _wait_for(marker, first)
    before = sorted(os.listdir(wd))
    second = _finish_alone(_start(tiny_config, wd, '--resume'), expect=2)
    assert f'is in use by another training process (host {socket.gethostname()}, PID {first.pid}, started' in second
    assert sorted(os.listdir(wd)) == before  # not even a log file
    os.killpg(first.pid, signal.SIGTERM)
    _finish_alone(first, expect=128 + signal.SIGTERM)
    assert not osp.exists(wd / '.train.lock')


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(tiny_config, straight, tmp_path):
    wd = tmp_path / 'wd'
    wd.mkdir()
    for name in ('iter_3.pth', 'iter_6.pth'):
        shutil.copy(straight / name, wd / name)
    os.link(wd / 'iter_6.pth', wd / 'latest.pth')  # as training leaves it
    size = os.path.getsize(wd / 'iter_6.pth')
    os.truncate(wd / 'iter_6.pth', size // 2)  # a node crash / quota / copy tool cut the newest file
    out = _resume_and_compare(tiny_config, wd, straight)
    assert f'resume: skipping {wd / "iter_6.pth"}: it does not load' in out
    assert f'resumed from {wd / "iter_3.pth"} at iteration 3' in out
    assert os.path.getsize(wd / 'iter_6.pth.corrupt') == size // 2  # kept, out of the way
    assert os.path.samefile(wd / 'latest.pth', wd / 'iter_6.pth')  # latest and iter_N agree again


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
