"""The training loop: a short :class:`Trainer` plus hooks (the shape of detectron2's SimpleTrainer/HookBase).

One iteration is one optimizer step over ``accum`` micro-batches. ``trainer.iter`` counts completed iterations:
``before_step`` hooks see the iteration about to run as ``iter + 1``, ``after_step`` hooks see it done.

One step: next batch → device → ``module(**batch)`` (DDP wraps the segmentor's own forward, which returns its
loss dict in training) → the sum of the ``*loss*`` entries → one finite check, agreed over ranks together with
the stop flag in a single collective → backward → optional clipping → optimizer step. The logged values stay on
the device and are averaged over ranks once per logging interval (:meth:`Trainer.pop_log_values`).
"""
import contextlib
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from ..utils import get_dist_info, get_root_logger
from ..utils.io import CheckpointSaveError
from .checkpoint import get_rng_state, resume_checkpoint, save_checkpoint
from .data import shutdown_workers, to_device
from .dist import all_gather_object, all_reduce_max, all_reduce_sum, barrier, between_batches

PRIORITIES = {'HIGHEST': 0, 'VERY_HIGH': 10, 'HIGH': 30, 'ABOVE_NORMAL': 40, 'NORMAL': 50, 'BELOW_NORMAL': 60,
              'LOW': 70, 'VERY_LOW': 90, 'LOWEST': 100}


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/Inf; raised before the update so the weights and checkpoints stay finite."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT stopped training after a resumable checkpoint of the last completed iteration was written."""

    def __init__(self, signum: int, iteration: int, path: Optional[str]) -> None:
        super().__init__(f'training stopped by signal {signum} at iteration {iteration}; resume from {path}')
        self.signum, self.iteration, self.path = signum, iteration, path


class TrainingAborted(KeyboardInterrupt):
    """A second Ctrl-C stopped training at once; nothing was written (the state in memory was mid-iteration).

    A ``KeyboardInterrupt`` so that no ``except Exception`` on the way (a save, an evaluation) can swallow it.
    """

    def __init__(self, signum: int, iteration: int, path: Optional[str]) -> None:
        super().__init__(f'training aborted by a second signal {signum} during iteration {iteration + 1}; nothing '
                         f'was saved for it; resume from {path}')
        self.signum, self.iteration, self.path = signum, iteration, path


class EvaluationStopped(Exception):
    """Raised inside :meth:`Trainer.interruptible` when a stop is requested: the evaluation ends at once (its
    iteration's checkpoint is on disk or written next by the signal guard)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f'stopped by signal {signum}')
        self.signum = signum


class HookBase:
    """Override any of the four calls; ``self.trainer`` (a weak proxy: a hook does not keep its trainer alive) is
    set when the hook is registered.

    ``priority`` (an int or a name in :data:`PRIORITIES`, lower runs first) orders hooks at every call.
    ``state_dict``/``load_state_dict`` let a hook keep state across resume: it is stored in the checkpoint's meta
    under ``state_key`` (default: the class's qualified name), which must be unique among the stateful hooks.
    Hooks talk to the trainer through its methods: :meth:`Trainer.record` (log values), :meth:`Trainer.request_stop`.
    """
    priority: Any = 'NORMAL'
    state_key: Optional[str] = None
    trainer: 'Trainer'

    def before_train(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


def hook_state_key(hook: HookBase) -> str:
    return hook.state_key or type(hook).__qualname__


def _has_state(hook: HookBase) -> bool:
    return type(hook).state_dict is not HookBase.state_dict


def priority_value(priority: Any) -> int:
    if isinstance(priority, str):
        if priority.upper() not in PRIORITIES:
            raise ValueError(f"hook priority '{priority}' is not one of {sorted(PRIORITIES, key=PRIORITIES.get)}")
        return PRIORITIES[priority.upper()]
    return int(priority)


def parse_losses(losses: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """Total loss = sum of the entries whose key contains 'loss'; detached per-entry means for logging."""
    log_vars: Dict[str, torch.Tensor] = OrderedDict((k, v.mean()) for k, v in losses.items())
    loss = sum(v for k, v in log_vars.items() if 'loss' in k)
    log_vars['loss'] = loss
    return loss, OrderedDict((k, v.detach()) for k, v in log_vars.items())


class Trainer:
    """Train ``model`` (a segmentor whose ``forward(**batch)`` returns a loss dict) for ``max_iters`` iterations.

    ``make_loader(start_samples)`` builds the infinite training loader positioned after ``start_samples``
    samples of this rank's stream (so a resumed run reads what an uninterrupted one would have read).
    ``make_writers()`` opens the log writers (rank 0, when training starts); :meth:`record` writes to them.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, make_loader: Callable[[int], Any],
                 max_iters: int, samples_per_gpu: int, work_dir: str, device: torch.device, *,
                 amp: Optional[str] = None, accum: int = 1, grad_clip: Optional[Dict[str, Any]] = None,
                 channels_last: bool = False, distributed: bool = False, find_unused_parameters: bool = False,
                 seed: int = 0, meta: Optional[Dict[str, Any]] = None,
                 make_writers: Optional[Callable[[], List[Any]]] = None) -> None:
        self.logger = get_root_logger()
        self.rank, self.world_size = get_dist_info()
        self.model, self.optimizer, self.make_loader = model, optimizer, make_loader
        self.max_iters, self.samples_per_gpu, self.work_dir, self.device = max_iters, samples_per_gpu, work_dir, device
        self.amp, self.accum, self.grad_clip, self.channels_last = amp, accum, grad_clip, channels_last
        self.distributed, self.seed, self.meta = distributed, seed, dict(meta or {})
        self.module: nn.Module = model
        if distributed:
            ids = [device.index] if device.type == 'cuda' else None
            self.module = DistributedDataParallel(model, device_ids=ids,
                                                  find_unused_parameters=find_unused_parameters)
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == 'fp16')
        self.hooks: List[HookBase] = []
        self.make_writers = make_writers
        self.writers: List[Any] = []  # log writers (rank 0), opened by train(), written by record()
        self.latest: Dict[str, Tuple[int, Dict[str, Any]]] = {}  # phase -> (iteration, values) last recorded
        self.iter = 0
        self.last_ckpt: Optional[str] = None
        self._stop_signal: Optional[int] = None  # set by request_stop; agreed over ranks in run_step
        self._stop_agreed = 0  # the signal any rank had received at the start of the last step (0: none)
        self._interruptible = False
        self._loader: Any = None
        self._log_sums: Dict[str, torch.Tensor] = OrderedDict()
        self._log_count = 0
        self._data_iter = None

    # ------------------------------------------------------------------------------------------------ hooks
    def register_hooks(self, hooks: List[HookBase]) -> None:
        keys = {hook_state_key(h): h for h in self.hooks if _has_state(h)}
        for h in hooks:
            if _has_state(h):
                key = hook_state_key(h)
                if key in keys:
                    raise ValueError(f"hooks {type(keys[key]).__name__} and {type(h).__name__} share the state key "
                                     f"'{key}': give one a distinct state_key so their resume states stay apart")
                keys[key] = h
            h.trainer = weakref.proxy(self)
            self.hooks.append(h)
        self.hooks.sort(key=lambda h: priority_value(h.priority))  # stable: equal priorities keep their order

    # ------------------------------------------------------------------------------- what hooks may call
    def request_stop(self, signum: int) -> bool:
        """Ask to stop after the running iteration (every rank agrees in the next step's collective). Returns
        False when a stop was already requested."""
        if self._stop_signal is not None:
            return False
        self._stop_signal = signum
        if self._interruptible:
            self._interruptible = False
            raise EvaluationStopped(signum)
        return True

    @contextlib.contextmanager
    def interruptible(self):
        """Work (an evaluation) that a stop request ends at once by raising :class:`EvaluationStopped`, also
        when the stop came before it started. In distributed runs the ranks agree after every evaluation batch
        (one small collective, :func:`~mmseg.engine.dist.between_batches`) and all leave after the same batch:
        one rank leaving the evaluation's collectives alone would leave the others waiting."""
        if self.distributed:
            with between_batches(self._agree_stop_in_evaluation):
                yield
            return
        if self._stop_signal is not None:
            raise EvaluationStopped(self._stop_signal)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def _agree_stop_in_evaluation(self) -> None:
        signum = int(all_reduce_max(torch.tensor([float(self._stop_signal or 0)], device=self.device)).item())
        if signum:
            self._stop_signal = self._stop_signal or signum
            self._stop_agreed = signum
            raise EvaluationStopped(signum)

    @property
    def stop_requested(self) -> Optional[int]:
        """The signal number of a stop requested on this rank, else ``None``."""
        return self._stop_signal

    @property
    def should_stop(self) -> Optional[int]:
        """The signal of a stop that every rank agreed on in the last step's collective (this rank's own request
        when not distributed), else ``None``: every rank sees the same answer after the same iteration."""
        return (self._stop_agreed or None) if self.distributed else self._stop_signal

    def record(self, phase: str, values: Dict[str, Any], step: Optional[int] = None) -> None:
        """Log ``values`` of ``phase`` ('train', 'val') at ``step`` (default: the current iteration) to every
        writer (rank 0), and keep them as ``latest[phase]`` for later hooks (the best checkpoint reads 'val')."""
        step = self.iter if step is None else step
        self.latest[phase] = (step, dict(values))
        for w in self.writers:
            w.write(phase, values, step)

    def _call(self, stage: str) -> None:
        for h in self.hooks:
            getattr(h, stage)()

    # ------------------------------------------------------------------------------------------------- loop
    def train(self) -> None:
        """Run ``before_train``, the steps up to ``max_iters``, then ``after_train`` (also after an error)."""
        self.logger.info(f'start training at iteration {self.iter} of {self.max_iters}, work_dir: {self.work_dir}')
        try:
            if self.rank == 0 and self.make_writers is not None:
                self.writers = self.make_writers()
            self._call('before_train')
            self._loader = self.make_loader(self.iter * self.samples_per_gpu * self.accum)
            self._data_iter = iter(self._loader)
            self.model.train()
            while self.iter < self.max_iters:
                self._call('before_step')
                self.run_step()
                self.iter += 1
                self._call('after_step')
        finally:
            try:
                self._call('after_train')
            finally:
                for w in self.writers:
                    w.close()
                # shut the workers down now, on every exit path: they ignore SIGTERM (see engine/data.py), and an
                # exception raised in one keeps the iterator alive in its traceback
                if self._loader is not None:
                    shutdown_workers(self._loader)
                self._loader = self._data_iter = None
        self.logger.info(f'training finished at iteration {self.iter}')

    def run_step(self) -> None:
        t0 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        data_time = 0.
        for k in range(self.accum):
            td = time.perf_counter()
            batch = next(self._data_iter)
            data_time += time.perf_counter() - td
            batch = to_device(batch, self.device, self.channels_last)
            last = k == self.accum - 1
            sync = self.module.no_sync() if self.distributed and not last else contextlib.nullcontext()
            with sync:
                with torch.autocast(self.device.type, dtype=torch.bfloat16 if self.amp == 'bf16' else torch.float16,
                                    enabled=self.amp is not None):
                    losses = self.module(**batch)
                loss, log_vars = parse_losses(losses)
                self._check_finite_and_stop(loss)
                self.scaler.scale(loss / self.accum).backward()
            self._accumulate({key: v / self.accum for key, v in log_vars.items()})
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            self._accumulate({'grad_norm': torch.nn.utils.clip_grad_norm_(params, **self.grad_clip).detach()})
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._accumulate({'data_time': torch.tensor(data_time),
                          'time': torch.tensor(time.perf_counter() - t0)})
        self._log_count += 1

    def _check_finite_and_stop(self, loss: torch.Tensor) -> None:
        """One host sync (and in distributed runs one collective, a max) per micro-batch: the update must not
        happen with a non-finite loss on any rank, and every rank must agree to stop after the same iteration
        (with the signal one of them received)."""
        flags = torch.stack([(~torch.isfinite(loss.detach())).any().float(),
                             torch.tensor(float(self._stop_signal or 0), device=loss.device)])
        bad, signum = all_reduce_max(flags).tolist()
        if bad:
            raise NonFiniteLossError(
                f'non-finite loss ({float(loss.detach()):.4g}) at iteration {self.iter + 1}: training stopped '
                f'without updating the weights; last good checkpoint: {self.last_ckpt}')
        self._stop_agreed = int(signum)

    def _accumulate(self, values: Dict[str, torch.Tensor]) -> None:
        for key, v in values.items():
            v = v.detach().float().to(self.device)
            self._log_sums[key] = self._log_sums[key] + v if key in self._log_sums else v

    def pop_log_values(self) -> Dict[str, float]:
        """Means over the steps since the last call, averaged over ranks: one collective, one host sync."""
        if not self._log_count:
            return {}
        keys = list(self._log_sums)
        means = all_reduce_sum(torch.stack([self._log_sums[k] for k in keys]) / (self._log_count * self.world_size))
        self._log_sums, self._log_count = OrderedDict(), 0
        return dict(zip(keys, means.tolist()))

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]['lr']

    # ------------------------------------------------------------------------------------------ checkpoints
    def checkpoint_meta(self, rng: List[Dict[str, Any]]) -> Dict[str, Any]:
        meta = dict(self.meta)
        per_iter = self.samples_per_gpu * self.accum
        meta.update(iter=self.iter, seed=self.seed, rng=rng,
                    sampler={'seed': self.seed, 'world_size': self.world_size, 'samples_per_iter': per_iter,
                             'consumed': self.iter * per_iter},
                    hooks={k: v for k, v in ((hook_state_key(h), h.state_dict()) for h in self.hooks) if v})
        return meta

    def save_checkpoint(self, path: str, update_latest: bool = True) -> str:
        """Write ``path`` from rank 0 with every rank's RNG state (a collective in distributed runs)."""
        rng = all_gather_object(get_rng_state())
        if self.rank == 0:
            try:
                save_checkpoint(path, self.model, self.optimizer, self.checkpoint_meta(rng), self.scaler,
                                update_latest)
            except CheckpointSaveError as e:
                raise CheckpointSaveError(f'{e}; the last checkpoint written is {self.last_ckpt}') from e
        barrier()
        return path

    def resume(self, path: str) -> None:
        """Continue exactly where ``path`` stopped: weights, optimizer, scaler, iteration, RNG, data, hook state."""
        meta = resume_checkpoint(path, self.model, self.optimizer, self.scaler, rank=self.rank)
        self.iter = int(meta.get('iter', 0))
        sampler = meta.get('sampler') or {}
        if 'seed' in sampler and sampler['seed'] != self.seed:
            self.logger.info(f"using the checkpoint's data seed {sampler['seed']} (config seed {self.seed})")
            self.seed = int(sampler['seed'])
        per_iter = self.samples_per_gpu * self.accum
        if sampler.get('world_size', self.world_size) != self.world_size or \
                sampler.get('samples_per_iter', per_iter) != per_iter:
            self.logger.warning(f'{path} was written with world size {sampler.get("world_size")} and '
                                f'{sampler.get("samples_per_iter")} samples per rank per iteration; the data order '
                                'after resume differs from an uninterrupted run')
        states = dict(meta.get('hooks') or {})
        for h in self.hooks:
            key = hook_state_key(h)
            if key in states:
                h.load_state_dict(states.pop(key))
        for key in states:
            self.logger.warning(f"{path} holds state for a hook '{key}' that this run does not have; it is ignored")
        self.last_ckpt = path
