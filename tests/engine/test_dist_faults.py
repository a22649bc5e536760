"""Faults under torchrun, in real processes (``tools/dist_train.sh``: 2 ranks, gloo, CPU): SIGTERM and SIGUSR1 to
torchrun's process group, and a rank killed by SIGKILL under ``MAX_RESTARTS=1`` with ``--resume`` (the one fixed
command of a requeue script), which must restart, resume by itself and end equal to an uninterrupted run."""
import os
import os.path as osp
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from tests.engine.test_faults import HERE, ROOT, _assert_same_weights, _wait_for, _with_hooks

pytestmark = pytest.mark.slow


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _dist_cmd(config, work_dir, *extra):
    return ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), str(config), '2', '--work-dir', str(work_dir),
            '--seed', '3', *extra]


def _env(**extra):
    return dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', PORT=_free_port(),
                PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH', ''), **extra)


def _start(config, work_dir, *extra, **env):
    return subprocess.Popen(_dist_cmd(config, work_dir, *extra), cwd=ROOT, env=_env(**env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc, timeout=240):
    """The output, once torchrun and every process of its group have ended (they are killed if they hang)."""
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError('torchrun did not end: ' + proc.communicate()[0][-4000:])
    return out


def _gone(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'  # a zombie has exited
    except OSError:
        return True


def _assert_all_gone(pids, within=10.):
    deadline = time.monotonic() + within
    while not all(_gone(p) for p in pids):
        assert time.monotonic() < deadline, f'processes left behind: {[p for p in pids if not _gone(p)]}'
        time.sleep(0.1)


def _processes_with(text: str):
    """PIDs of the live processes whose command line contains ``text``."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                if text in f.read().decode(errors='replace'):
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope='module')
def straight2(tiny_config, tmp_path_factory):
    """The uninterrupted 2-process reference."""
    wd = tmp_path_factory.mktemp('straight2')
    out = _finish(_start(tiny_config, wd))
    assert osp.isfile(wd / 'iter_6.pth'), out[-4000:]
    return wd


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1])
def test_signal_to_torchrun_stops_every_rank_after_the_same_iteration(tiny_config, tmp_path, signum):
    marker = tmp_path / 'paused_{rank}'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='PauseAt', at=1, marker='{marker}')]")
    proc = _start(cfg, wd)
    markers = [tmp_path / f'paused_{r}' for r in (0, 1)]
    for m in markers:
        _wait_for(m, proc)
    pids = [int(open(m).read()) for m in markers]
    os.killpg(proc.pid, signum)  # torchrun and its shell: torchrun forwards the signal to both ranks
    out = _finish(proc)
    assert out.count(f'training stopped by signal {int(signum)} at iteration 2') == 2, out[-4000:]  # both ranks
    assert sorted(f for f in os.listdir(wd) if f.endswith('.pth')) == ['iter_2.pth', 'latest.pth']
    meta = torch.load(wd / 'latest.pth', weights_only=True)['meta']
    assert meta['iter'] == 2 and len(meta['rng']) == 2
    assert not osp.exists(wd / '.train.lock')
    _assert_all_gone(pids)


def test_signal_to_one_rank_during_an_evaluation_stops_both_after_the_same_batch(tiny_config, tmp_path):
    """Each evaluation batch takes 20 s (2 per rank: the full evaluation over 40 s); SIGTERM reaches rank 1 only, in
    its first batch. The ranks agree after that batch: both leave the evaluation, save iteration 3 and stop,
    instead of rank 1 leaving alone (rank 0 would wait in the evaluation's gather forever) or finishing it."""
    marker = tmp_path / 'evaluating_{rank}'
    wd = tmp_path / 'wd'
    cfg = _with_hooks(tiny_config, tmp_path,
                      f"[dict(type='SlowEvaluation', marker='{marker}', seconds=20, per_batch=True)]")
    proc = _start(cfg, wd, '--cfg-options', 'data.workers_per_gpu=1')  # validation workers too
    markers = [tmp_path / f'evaluating_{r}' for r in (0, 1)]
    for m in markers:
        _wait_for(m, proc)
    pids = [int(open(m).read()) for m in markers]
    t0 = time.monotonic()
    os.kill(pids[1], signal.SIGTERM)
    out = _finish(proc)
    assert time.monotonic() - t0 < 35, out[-4000:]  # one batch (<= 20 s) and the save, not the 40 s evaluation
    assert 'evaluation at iteration 3 stopped by signal 15' in out, out[-4000:]  # by rank 0: it got no signal
    assert out.count('training stopped by signal 15 at iteration 3') == 2, out[-4000:]
    assert torch.load(wd / 'latest.pth', weights_only=True)['meta']['iter'] == 3
    assert not osp.exists(wd / '.train.lock')
    _assert_all_gone(pids)
    _assert_all_gone(_processes_with(str(wd)))  # DataLoader workers: forked ranks, their command names the work dir


def test_keep_global_batch_and_auto_scale_lr_through_dist_train(tiny_config, tmp_path):
    """The flags as a user runs them: 2 ranks, a recipe of 8 images and 2 images per GPU. --keep-global-batch
    accumulates 2 steps (2 x 2 x 2 = 8, no warning); --auto-scale-lr keeps the batch of 4 and halves the LR."""
    opts = ['--cfg-options', 'data.global_batch=8', 'data.samples_per_gpu=2', 'runner.max_iters=1',
            'evaluation.interval=1', 'checkpoint_config.interval=1', 'lr_config.warmup_iters=1']
    proc = _start(tiny_config, tmp_path / 'keep', '--keep-global-batch', '--no-validate', *opts)
    out = _finish(proc)
    assert proc.returncode == 0, out[-4000:]
    assert 'global batch: 2 GPU(s) x 2 samples_per_gpu x 2 accumulation = 8; the recipe (data.global_batch) is 8' \
        in out, out[-4000:]
    assert 'is not the recipe' not in out
    proc = _start(tiny_config, tmp_path / 'scale', '--auto-scale-lr', '--no-validate', *opts)
    out = _finish(proc)
    assert proc.returncode == 0, out[-4000:]
    assert 'global batch: 2 GPU(s) x 2 samples_per_gpu x 1 accumulation = 4' in out, out[-4000:]
    assert '--auto-scale-lr: optimizer.lr x 4/8 = ' in out and 'is not the recipe' not in out


def test_rank_killed_restarts_resumes_and_ends_equal(tiny_config, straight2, tmp_path):
    marker = tmp_path / 'paused_{rank}'
    wd = tmp_path / 'wd'
    # both ranks wait after iteration 4 (iteration 3 is saved); rank 1 is then killed
    cfg = _with_hooks(tiny_config, tmp_path, f"[dict(type='PauseAt', at=4, marker='{marker}')]")
    proc = _start(cfg, wd, '--resume', MAX_RESTARTS='1')
    markers = [tmp_path / f'paused_{r}' for r in (0, 1)]
    for m in markers:
        _wait_for(m, proc)
    pids = [int(open(m).read()) for m in markers]
    os.kill(pids[1], signal.SIGKILL)
    out = _finish(proc, timeout=300)
    assert proc.returncode == 0, out[-4000:]
    assert 'no checkpoint in' in out and 'starting from iteration 0' in out  # the first attempt
    assert f'resumed from {wd / "iter_3.pth"} at iteration 3' in out or \
        f'resumed from {wd / "latest.pth"} at iteration 3' in out, out[-4000:]
    _assert_same_weights(straight2 / 'iter_6.pth', wd / 'iter_6.pth')
    assert torch.load(wd / 'latest.pth', weights_only=True)['meta']['iter'] == 6
    assert not osp.exists(wd / '.train.lock')
    _assert_all_gone(pids)


RESTART_SCRIPT = '''
import os, sys
import torch
import torch.distributed as dist
from mmseg.engine.dist import init_dist
init_dist('pytorch', backend='gloo')
attempt = os.environ['TORCHELASTIC_RESTART_COUNT']
t = torch.ones(1)
dist.all_reduce(t)
if attempt == '0':
    sys.exit(1)  # every rank fails once the group is up (as a first attempt of --resume did)
dist.barrier()
print(f'attempt {attempt} rank {dist.get_rank()} sum {t.item()}', flush=True)
dist.destroy_process_group()
'''


def test_restarted_ranks_do_not_read_the_previous_attempts_keys(tmp_path):
    """torchrun's static rendezvous keeps one store over restarts: without a per-attempt prefix the restarted
    rank 1 connects to the dead rank 0's address (gloo 'connectFullMesh failed ... Connection refused')."""
    script = tmp_path / 'restart.py'
    script.write_text(RESTART_SCRIPT)
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--max-restarts',
                           '1', '--master_port', _free_port(), str(script)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'attempt 1 rank 0 sum 2.0' in out and 'attempt 1 rank 1 sum 2.0' in out
