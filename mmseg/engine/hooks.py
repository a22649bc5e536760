"""The trainer's hooks, in the order they run at each call (lower priority first).

=====================  ========  ===========================================================================
hook                   priority  does
=====================  ========  ===========================================================================
PreflightHook          0         runs the dataset/config checks before the first iteration
LrSchedulerHook        10        sets every group's lr before each step
LoggerHook             20        log line + JSON + TensorBoard every ``interval``; progress bar or line
CheckpointHook         30        ``iter_N.pth`` + ``latest.pth`` every ``interval`` and at the end
EvalHook               50        evaluation after the checkpoint of the same iteration is on disk
(custom_hooks)         50        user hooks from the config, ``priority`` as given
BestCheckpointHook     55        ``best_<metric>_iter_N.pth`` when the evaluation just recorded improves it
SignalGuardHook        90        SIGTERM/SIGINT/SIGUSR1: stop after the current iteration with its checkpoint
=====================  ========  ===========================================================================
"""
import contextlib
import glob
import os
import os.path as osp
import random
import signal
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..registry import HOOKS
from ..utils.progress import ProgressLine
from .checkpoint import list_iter_checkpoints
from .log_writers import format_train_line, make_writers
from .trainer import EvaluationStopped, HookBase, TrainingAborted, TrainingInterrupted


class EvaluationError(RuntimeError):
    """Evaluation failed; the checkpoint of the same iteration was written before it started."""


class PreflightHook(HookBase):
    """Run ``check()`` (dataset and config checks) before the first iteration, so bad input fails in seconds."""
    priority = 0

    def __init__(self, check: Callable[[], Any]) -> None:
        self.check = check

    def before_train(self) -> None:
        self.check()


class LrSchedulerHook(HookBase):
    priority = 10

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def before_step(self) -> None:
        self.scheduler.step(self.trainer.iter)


class LoggerHook(HookBase):
    """Every ``interval`` iterations: one reduction of the logged values, a text line, a JSON line and TensorBoard
    scalars (rank 0); between them a :class:`~mmseg.utils.progress.ProgressLine` (a tqdm bar on a terminal with log
    lines printed above it; without a terminal a line with ETA at least every ``progress_every`` seconds)."""
    priority = 20

    def __init__(self, interval: int, timestamp: str, tensorboard: bool = False, progress_every: float = 30.,
                 is_tty: Optional[bool] = None) -> None:
        self.interval, self.timestamp, self.tensorboard = interval, timestamp, tensorboard
        self.progress_every, self.is_tty = progress_every, is_tty
        self._progress: Optional[ProgressLine] = None

    def open_writers(self, trainer: Any) -> List[Any]:
        """The writers this logging setup asks for (the trainer opens them on rank 0 and owns them)."""
        return make_writers(trainer.work_dir, self.timestamp, trainer.meta, self.tensorboard)

    def before_train(self) -> None:
        t = self.trainer
        self._t0, self._it0 = time.perf_counter(), t.iter
        desc = f'train (from iteration {t.iter})' if t.iter else 'train'
        self._progress = ProgressLine(t.max_iters - t.iter, desc, interval=self.progress_every, enabled=t.rank == 0,
                                      tty=self.is_tty, unit='iter', logger=t.logger)

    def after_step(self) -> None:
        t = self.trainer
        self._progress.update()
        if t.iter % self.interval and t.iter != t.max_iters:
            return
        values = t.pop_log_values()  # a collective: every rank calls it
        if t.rank != 0:
            return
        eta = (time.perf_counter() - self._t0) / max(t.iter - self._it0, 1) * (t.max_iters - t.iter)
        mem = int(torch.cuda.max_memory_allocated(t.device) / 2 ** 20) if t.device.type == 'cuda' else None
        t.logger.info(format_train_line(t.iter, t.max_iters, t.lr, eta, values, mem))
        record = {'epoch': 1, 'lr': t.lr, **values}  # 'epoch': the mmseg 0.x JSON log format has it
        if mem is not None:
            record['memory'] = mem
        t.record('train', record)

    def after_train(self) -> None:
        if self._progress is not None:
            self._progress.close()


class CheckpointHook(HookBase):
    """``iter_N.pth`` (and ``latest.pth``) every ``interval`` iterations and at the last one; keeps the newest
    ``max_keep_ckpts``. Before training: removes temp files of saves that were killed, and fails early when the
    work dir is not writable."""
    priority = 30

    def __init__(self, interval: int, max_keep_ckpts: int = -1) -> None:
        self.interval, self.max_keep_ckpts = interval, max_keep_ckpts

    def before_train(self) -> None:
        t = self.trainer
        if t.rank != 0:
            return
        os.makedirs(t.work_dir, exist_ok=True)
        stale = glob.glob(osp.join(t.work_dir, '.tmp_*'))
        for path in stale:
            os.remove(path)
        if stale:
            t.logger.info(f'removed {len(stale)} temp file(s) of interrupted saves in {t.work_dir}: '
                          + ', '.join(osp.basename(p) for p in stale))
        try:
            with tempfile.TemporaryFile(dir=t.work_dir):
                pass
        except OSError as e:
            raise PermissionError(f'cannot write checkpoints to the work dir {t.work_dir}: {e.strerror}') from None

    def path(self, iteration: int) -> str:
        return osp.join(self.trainer.work_dir, f'iter_{iteration}.pth')

    def save_current(self) -> str:
        """Checkpoint the current (completed) iteration unless it is already on disk."""
        t = self.trainer
        path = self.path(t.iter)
        if t.last_ckpt != path:
            t.last_ckpt = t.save_checkpoint(path)
            t.logger.info(f'saved checkpoint {path}')
            self._prune()
        return path

    def _prune(self) -> None:
        if self.trainer.rank != 0 or self.max_keep_ckpts <= 0:
            return
        for _, p in list_iter_checkpoints(self.trainer.work_dir)[:-self.max_keep_ckpts]:
            os.remove(p)

    def after_step(self) -> None:
        t = self.trainer
        if t.iter % self.interval == 0 or t.iter == t.max_iters:
            self.save_current()


@contextlib.contextmanager
def forked_rng(device: torch.device):
    """Evaluation must not consume the training RNG streams, so resume is exact whatever was evaluated."""
    np_state, py_state = np.random.get_state(), random.getstate()
    devices = [device.index or 0] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


class EvalHook(HookBase):
    """Every ``interval`` iterations: ``evaluate(model) -> results`` (metrics by name, per-class arrays), recorded
    as the 'val' phase (:meth:`Trainer.record`) and logged.

    ``on_error='stop'`` (default) raises :class:`EvaluationError` (the checkpoint of the iteration is on disk, the
    message names what failed); ``'continue'`` logs the error and trains on. A stop signal during the evaluation
    ends it at once (single process; see :meth:`Trainer.interruptible`).
    """
    priority = 50

    def __init__(self, evaluate: Callable[[torch.nn.Module], Dict[str, Any]], interval: int,
                 class_names: Optional[Sequence[str]] = None, on_error: str = 'stop') -> None:
        if on_error not in ('stop', 'continue'):
            raise ValueError(f"evaluation.on_error must be 'stop' or 'continue', got {on_error!r}")
        self.evaluate, self.interval = evaluate, interval
        self.class_names, self.on_error = class_names, on_error

    def after_step(self) -> None:
        t = self.trainer
        if t.iter % self.interval:
            return
        if t.distributed:  # rank 0's BN statistics for every rank, as DDP uses them in training
            for buf in t.model.buffers():
                torch.distributed.broadcast(buf, 0)
        try:
            with forked_rng(t.device), t.interruptible():
                results = self.evaluate(t.model)
        except (TrainingInterrupted, TrainingAborted):
            raise
        except EvaluationStopped as e:
            t.logger.warning(f'evaluation at iteration {t.iter} stopped by signal {e.signum}')
            return
        except Exception as e:
            msg = f'evaluation at iteration {t.iter} failed: {type(e).__name__}: {e}'
            if self.on_error == 'continue':
                t.logger.error(f'{msg}; training continues (evaluation.on_error=continue)')
                return
            raise EvaluationError(f'{msg}; the checkpoint of iteration {t.iter} is {t.last_ckpt}. Fix the input '
                                  "and resume with --resume, or set evaluation.on_error='continue'") from e
        finally:
            t.model.train()
        scalars = {k: float(v) for k, v in results.items() if isinstance(v, (int, float))}
        record = {'lr': t.lr, **scalars}
        for k, v in results.items():  # per-class arrays as IoU.<class>, Acc.<class> (mmseg 0.x log keys)
            if isinstance(v, np.ndarray) and self.class_names is not None and len(v) == len(self.class_names):
                record.update({f'{k}.{n}': float(x) for n, x in zip(self.class_names, v)})
        t.record('val', record)
        if t.rank == 0:
            t.logger.info(f'Iter(val) [{t.iter}]\t' + ', '.join(f'{k}: {v:.4f}' for k, v in scalars.items()))


class BestCheckpointHook(HookBase):
    """Keeps ``best_<metric>_iter_N.pth``: after an evaluation recorded at this iteration (the 'val' phase of
    :meth:`Trainer.record`) whose ``metric`` beats the best so far (``'auto'``: the first metric other than aAcc).
    The previous best file is removed; the best score and file survive resume (hook state)."""
    priority = 55

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.best_score: Optional[float] = None
        self.best_ckpt: Optional[str] = None

    def state_dict(self) -> Dict[str, Any]:
        return {'best_score': self.best_score, 'best_ckpt': self.best_ckpt}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.best_score, self.best_ckpt = state.get('best_score'), state.get('best_ckpt')

    def after_step(self) -> None:
        t = self.trainer
        step, values = t.latest.get('val', (None, {}))
        if step != t.iter:
            return
        metrics = {k: v for k, v in values.items() if k != 'lr' and '.' not in k}  # no per-class entries
        key = self.metric if self.metric != 'auto' else next(iter([m for m in metrics if m != 'aAcc'] or ['aAcc']))
        if key not in metrics:
            raise KeyError(f"evaluation.save_best '{key}' is not among the metrics {sorted(metrics)}")
        score = metrics[key]
        if self.best_score is not None and not score > self.best_score:
            return
        old = self.best_ckpt
        self.best_score = score
        self.best_ckpt = osp.join(t.work_dir, f'best_{key}_iter_{t.iter}.pth')
        t.save_checkpoint(self.best_ckpt, update_latest=False)
        if t.rank == 0 and old and old != self.best_ckpt and osp.isfile(old):
            os.remove(old)
        t.logger.info(f'best {key} {score:.4f} at iteration {t.iter}: {self.best_ckpt}')


class SignalGuardHook(HookBase):
    """SIGTERM/SIGINT/SIGUSR1 (to the main process or the whole process group) stop training after the iteration
    that is running: its checkpoint is written (unless already on disk), then :class:`TrainingInterrupted` is
    raised. SIGUSR1 is the schedulers' warning before a hard kill (SLURM ``--signal=USR1@90``, submitit). A signal
    during an evaluation ends the evaluation at once (:meth:`Trainer.interruptible`).

    A second SIGINT more than ``repeat_window`` seconds after the first (a second Ctrl-C) stops at once by raising
    :class:`TrainingAborted`: nothing is written, a save in progress is abandoned (its temp file is removed), so no
    completed checkpoint is ever replaced by a mid-iteration state. Copies of the same signal arriving together
    (a terminal or ``torchrun`` delivering one Ctrl-C along two paths) and repeated SIGTERMs are only logged.
    """
    priority = 90
    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)

    def __init__(self, checkpoint: CheckpointHook, repeat_window: float = 1.0) -> None:
        self.checkpoint, self.repeat_window = checkpoint, repeat_window
        self._old: Dict[int, Any] = {}
        self._first = 0.

    def before_train(self) -> None:
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread: leave the defaults
                pass

    def _on_signal(self, signum: int, frame: Any) -> None:
        t = self.trainer
        now = time.monotonic()
        if t.stop_requested is None:
            self._first = now
            t.logger.warning(f'signal {signum} received: stopping after iteration {t.iter + 1} with its checkpoint; '
                             'press Ctrl-C again to stop at once without saving')
            t.request_stop(signum)  # during an evaluation this raises EvaluationStopped into it
        elif signum == signal.SIGINT and now - self._first > self.repeat_window:
            raise TrainingAborted(signum, t.iter, t.last_ckpt)
        else:
            t.logger.warning(f'signal {signum} received again: still stopping after the current iteration')

    def after_step(self) -> None:
        t = self.trainer
        signum = t.should_stop
        if signum and t.iter < t.max_iters:
            path = self.checkpoint.save_current()
            raise TrainingInterrupted(signum, t.iter, path)

    def after_train(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def build_custom_hooks(cfgs: Optional[List[Dict[str, Any]]]) -> List[HookBase]:
    """``custom_hooks = [dict(type='MyHook', priority='LOW', **kwargs)]`` from the ``HOOKS`` registry."""
    hooks = []
    for i, cfg in enumerate(cfgs or []):
        cfg = dict(cfg)
        priority = cfg.pop('priority', 'NORMAL')
        hook = HOOKS.build(cfg)
        if not isinstance(hook, HookBase):
            raise TypeError(f'custom_hooks[{i}] ({cfg["type"]}) is not a mmseg.engine.HookBase')
        hook.priority = priority
        hooks.append(hook)
    return hooks
