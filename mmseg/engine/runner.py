"""Iteration-based trainer: DDP via torchrun, AMP, gradient accumulation, poly LR, logging, periodic evaluation,
atomic checkpoints, best-checkpoint tracking and exact resume.

One iteration = one optimizer step over ``cumulative_iters`` micro-batches of ``samples_per_gpu`` images per rank
(mmcv's GradientCumulativeOptimizerHook counts micro-batches instead; with the default of 1 both agree).
"""
import contextlib
import os
import os.path as osp
import random
import signal
import sys
import time
from collections import defaultdict
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from ..utils import ConfigKeyError, get_dist_info, get_root_logger
from ..models import load_checkpoint
from .checkpoint import get_rng_state, list_iter_checkpoints, resume_checkpoint, save_checkpoint
from .data import build_train_loader, to_device
from .dist import all_gather_object, any_flags, barrier, get_device, is_distributed, reduce_mean_dict
from .log_writers import format_train_line, make_writers
from .lr_scheduler import build_lr_scheduler
from .optimizer import build_optimizer


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/Inf; raised before the update so the weights and checkpoints stay finite."""


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT stopped training after a resumable checkpoint was written."""

    def __init__(self, signum: int, iteration: int, path: Optional[str]) -> None:
        super().__init__(f'training stopped by signal {signum} at iteration {iteration}; resume from {path}')
        self.signum, self.iteration, self.path = signum, iteration, path


class _TrainStep(nn.Module):
    """Routes ``forward`` to ``module.train_step`` so DDP's gradient hooks see the training forward."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        return self.module.train_step(batch)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.SyncBatchNorm`` by ``nn.BatchNorm2d`` with the same parameters and statistics."""
    out = module
    if isinstance(module, nn.SyncBatchNorm):
        out = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                out.weight = module.weight
                out.bias = module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
    for name, child in module.named_children():
        out.add_module(name, revert_sync_batchnorm(child))
    return out


@contextlib.contextmanager
def _forked_rng(device: torch.device):
    """Evaluation must not consume the training RNG streams, so resume is exact whatever was evaluated."""
    np_state, py_state = np.random.get_state(), random.getstate()
    devices = [device.index or 0] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


class IterBasedRunner:
    """Train ``model`` (a segmentor with ``train_step``) on ``dataset`` as configured by ``cfg``.

    Reads ``runner.max_iters``, ``data.samples_per_gpu/workers_per_gpu``, ``optimizer``, ``optimizer_config``
    (``grad_clip``, ``cumulative_iters``), ``lr_config``, ``checkpoint_config``, ``evaluation``, ``log_config``,
    ``seed``, ``amp`` (None/'bf16'/'fp16'), ``channels_last``, ``find_unused_parameters``, ``work_dir``.
    """

    def __init__(self, model: nn.Module, cfg: Any, dataset: Any, distributed: bool = False,
                 val_loader: Any = None, evaluator: Any = None, timestamp: Optional[str] = None,
                 meta: Optional[Dict[str, Any]] = None) -> None:
        self.logger = get_root_logger()
        self.cfg = cfg
        self.rank, self.world_size = get_dist_info()
        self.distributed = distributed and is_distributed()
        self.device = get_device()
        self.work_dir = cfg.work_dir
        self.timestamp = timestamp or time.strftime('%Y%m%d_%H%M%S', time.localtime())
        self.meta = dict(meta or {})
        runner_cfg = cfg.get('runner') or {}
        if runner_cfg.get('type', 'IterBasedRunner') != 'IterBasedRunner' or 'max_iters' not in runner_cfg:
            raise ConfigKeyError(f"runner must be dict(type='IterBasedRunner', max_iters=N), got {runner_cfg}")
        self.max_iters = int(runner_cfg['max_iters'])
        opt_cfg = dict(cfg.get('optimizer_config') or {})
        self.grad_clip = opt_cfg.pop('grad_clip', None)
        self.accum = int(opt_cfg.pop('cumulative_iters', 1))
        opt_cfg.pop('type', None)
        if opt_cfg:
            raise ConfigKeyError(f"optimizer_config got an unknown key '{sorted(opt_cfg)[0]}'")
        self.amp = cfg.get('amp')
        if self.amp not in (None, 'bf16', 'fp16'):
            raise ConfigKeyError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        self.channels_last = bool(cfg.get('channels_last', False))
        self.seed = int(cfg.get('seed') or 0)
        self.dataset = dataset[0] if isinstance(dataset, (list, tuple)) else dataset
        self.samples_per_gpu = int(cfg.data.samples_per_gpu)
        self.workers_per_gpu = int(cfg.data.get('workers_per_gpu', 0))
        self.val_loader, self.evaluator = val_loader, evaluator

        ckpt_cfg = cfg.get('checkpoint_config') or {}
        self.ckpt_interval = int(ckpt_cfg.get('interval', self.max_iters))
        self.max_keep_ckpts = ckpt_cfg.get('max_keep_ckpts') or -1
        eval_cfg = dict(cfg.get('evaluation') or {})
        self.eval_interval = int(eval_cfg.get('interval', self.max_iters))
        self.eval_metric = eval_cfg.get('metric', 'mIoU')
        self.save_best = eval_cfg.get('save_best')
        log_cfg = cfg.get('log_config') or {}
        self.log_interval = int(log_cfg.get('interval', 50))
        self.log_hooks = log_cfg.get('hooks', [])

        # model on device; SyncBN only works under a CUDA process group
        if not self.distributed or self.device.type != 'cuda':
            if any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
                self.logger.info('SyncBN → BN (not a CUDA distributed run)')
                model = revert_sync_batchnorm(model)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        step = _TrainStep(model)
        if self.distributed:
            ids = [self.device.index] if self.device.type == 'cuda' else None
            step = DistributedDataParallel(step, device_ids=ids,
                                           find_unused_parameters=bool(cfg.get('find_unused_parameters', False)))
        self.train_module = step
        self.optimizer = build_optimizer(model, cfg.optimizer)
        self.scheduler = build_lr_scheduler(self.optimizer, cfg.lr_config, self.max_iters)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == 'fp16')
        self.iter = 0
        self.best_score: Optional[float] = None
        self.best_ckpt: Optional[str] = None
        self.last_ckpt: Optional[str] = None
        self._signal: Optional[int] = None
        self._stepping = False
        self._stop_agreed = False
        self.writers: Dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------ checkpoints
    def resume(self, path: str) -> None:
        """Continue exactly where ``path`` stopped: weights, optimizer, scaler, iteration, RNG, data position."""
        meta = resume_checkpoint(path, self.model, self.optimizer, self.scaler, rank=self.rank)
        self.iter = int(meta.get('iter', 0))
        sampler = meta.get('sampler') or {}
        if 'seed' in sampler and sampler['seed'] != self.seed:
            self.logger.info(f"using the checkpoint's data seed {sampler['seed']} (config seed {self.seed})")
            self.seed = int(sampler['seed'])
        if sampler.get('world_size', self.world_size) != self.world_size or \
                sampler.get('samples_per_iter', self.samples_per_gpu * self.accum) != \
                self.samples_per_gpu * self.accum:
            self.logger.warning(f'{path} was written with world size {sampler.get("world_size")} and '
                                f'{sampler.get("samples_per_iter")} samples per rank per iteration; the data order '
                                'after resume differs from an uninterrupted run')
        self.best_score = meta.get('best_score')
        self.best_ckpt = meta.get('best_ckpt')
        self.last_ckpt = path

    def load_from(self, path: str) -> None:
        """Initialise weights only (iteration stays 0); any layout ``mmseg.models.load_checkpoint`` reads."""
        load_checkpoint(self.model, path)

    def _meta(self, rng: Any) -> Dict[str, Any]:
        meta = dict(self.meta)
        meta.update(iter=self.iter, seed=self.seed, rng=rng, best_score=self.best_score, best_ckpt=self.best_ckpt,
                    sampler={'seed': self.seed, 'world_size': self.world_size,
                             'samples_per_iter': self.samples_per_gpu * self.accum,
                             'consumed': self.iter * self.samples_per_gpu * self.accum})
        return meta

    def save(self, filename: str, gather_rng: bool = True, update_latest: bool = True) -> str:
        """Write ``work_dir/filename`` from rank 0 with every rank's RNG state (a collective when gathering)."""
        rng = all_gather_object(get_rng_state()) if gather_rng else [get_rng_state()]
        path = osp.join(self.work_dir, filename)
        if self.rank == 0:
            save_checkpoint(path, self.model, self.optimizer, self._meta(rng), self.scaler, update_latest)
        if gather_rng:
            barrier()
        return path

    def _save_periodic(self) -> None:
        self.last_ckpt = self.save(f'iter_{self.iter}.pth')
        self.logger.info(f'saved checkpoint {self.last_ckpt}')
        if self.rank != 0 or self.max_keep_ckpts <= 0:
            return
        for _, p in list_iter_checkpoints(self.work_dir)[:-self.max_keep_ckpts]:
            os.remove(p)

    # ----------------------------------------------------------------------------------------- evaluation
    def evaluate(self) -> Dict[str, Any]:
        from ..apis.test import multi_gpu_test, single_gpu_test
        if self.distributed:  # rank 0's BN statistics for every rank, as DDP uses them in training
            for buf in self.model.buffers():
                torch.distributed.broadcast(buf, 0)
        metrics = self.eval_metric if isinstance(self.eval_metric, (list, tuple)) else [self.eval_metric]
        self.evaluator.reset()
        with _forked_rng(self.device):
            test = multi_gpu_test if self.distributed else single_gpu_test
            test(self.model, self.val_loader, self.evaluator, keep_preds=False)
            results = self.evaluator.evaluate(metrics, logger=self.logger)
        self.model.train()
        scalars = {k: float(v) for k, v in results.items() if isinstance(v, (int, float))}
        record = {'mode': 'val', 'iter': self.iter, 'lr': self.optimizer.param_groups[0]['lr'], **scalars}
        names = getattr(self.evaluator, 'class_names', None)
        for k, v in results.items():  # per-class arrays as IoU.<class>, Acc.<class> (mmseg 0.x log keys)
            if isinstance(v, np.ndarray) and names is not None and len(v) == len(names):
                record.update({f'{k}.{n}': float(x) for n, x in zip(names, v)})
        if self.rank == 0:
            if 'json' in self.writers:
                self.writers['json'].write(record)
            if 'tb' in self.writers:
                self.writers['tb'].write('val', scalars, self.iter)
            self.logger.info(f'Iter(val) [{self.iter}]\t' + ', '.join(f'{k}: {v:.4f}' for k, v in scalars.items()))
        if self.save_best:
            self._update_best(scalars)
        return results

    def _update_best(self, scalars: Dict[str, float]) -> None:
        key = self.save_best if self.save_best != 'auto' else next(iter(
            [m for m in scalars if m != 'aAcc'] or ['aAcc']))
        if key not in scalars:
            raise ConfigKeyError(f"evaluation.save_best '{key}' is not among the metrics {sorted(scalars)}")
        score = scalars[key]
        if self.best_score is not None and not score > self.best_score:
            return
        old = self.best_ckpt
        self.best_score = score
        self.best_ckpt = osp.join(self.work_dir, f'best_{key}_iter_{self.iter}.pth')
        self.save(osp.basename(self.best_ckpt), update_latest=False)
        if self.rank == 0 and old and old != self.best_ckpt and osp.isfile(old):
            os.remove(old)
        self.logger.info(f'best {key} {score:.4f} at iteration {self.iter}: {self.best_ckpt}')

    # ---------------------------------------------------------------------------------------------- train
    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self._signal is not None:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self._signal = signum
        self.logger.warning(f'signal {signum} received: saving a checkpoint after the current iteration')

    def _train_iter(self, data_iter: Any) -> Dict[str, float]:
        t0 = time.perf_counter()
        self.scheduler.step(self.iter)
        self.optimizer.zero_grad(set_to_none=True)
        values: Dict[str, float] = defaultdict(float)
        data_time = 0.
        stop = False
        for k in range(self.accum):
            td = time.perf_counter()
            batch = next(data_iter)
            data_time += time.perf_counter() - td
            batch = to_device(batch, self.device, self.channels_last)
            sync = self.train_module.no_sync() if self.distributed and k < self.accum - 1 \
                else contextlib.nullcontext()
            with sync:
                with torch.autocast(self.device.type, dtype=torch.bfloat16 if self.amp == 'bf16' else torch.float16,
                                    enabled=self.amp is not None):
                    out = self.train_module(batch)
                loss = out['loss']
                bad, stop = any_flags([not bool(torch.isfinite(loss.detach()).all()), self._signal is not None],
                                      self.device)
                if bad:
                    raise NonFiniteLossError(
                        f'non-finite loss ({float(loss.detach()):.4g}) at iteration {self.iter + 1}: training stopped '
                        f'without updating the weights; last good checkpoint: {self.last_ckpt}')
                self.scaler.scale(loss / self.accum).backward()
            for key, v in out.get('log_vars', {'loss': loss}).items():
                values[key] += float(v) / self.accum
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            values['grad_norm'] = float(torch.nn.utils.clip_grad_norm_(params, **self.grad_clip))
        self._stepping = True
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.iter += 1
        self._stepping = False
        self._stop_agreed = stop
        values['data_time'] = data_time
        values['time'] = time.perf_counter() - t0
        return values

    def _log(self, buf: Dict[str, float], count: int, lr: float, t_start: float, it_start: int) -> None:
        mean = reduce_mean_dict({k: v / count for k, v in buf.items()}, self.device)
        if self.rank != 0:
            return
        done = self.iter - it_start
        eta = (time.perf_counter() - t_start) / max(done, 1) * (self.max_iters - self.iter)
        mem = None
        if self.device.type == 'cuda':
            mem = int(torch.cuda.max_memory_allocated(self.device) / 2 ** 20)
        self.logger.info(format_train_line(self.iter, self.max_iters, lr, eta, mean, mem))
        record = {'mode': 'train', 'epoch': 1, 'iter': self.iter, 'lr': lr, **mean}
        if mem is not None:
            record['memory'] = mem
        self.writers['json'].write(record)
        if 'tb' in self.writers:
            self.writers['tb'].write('train', {'lr': lr, **mean}, self.iter)

    def run(self) -> None:
        """Train to ``max_iters``. Raises :class:`NonFiniteLossError` or :class:`TrainingInterrupted`."""
        os.makedirs(self.work_dir, exist_ok=True)
        self.writers = make_writers(self.work_dir, self.timestamp, self.meta, self.log_hooks) \
            if self.rank == 0 else {}
        loader = build_train_loader(self.dataset, self.samples_per_gpu, self.workers_per_gpu, self.seed,
                                    start_samples=self.iter * self.samples_per_gpu * self.accum)
        data_iter = iter(loader)
        old_handlers = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass
        bar = None
        if self.rank == 0 and sys.stdout.isatty():
            from tqdm import tqdm
            bar = tqdm(total=self.max_iters, initial=self.iter, dynamic_ncols=True, desc='train')
        self.logger.info(f'start training at iteration {self.iter} of {self.max_iters}, work_dir: {self.work_dir}')
        self.model.train()
        buf: Dict[str, float] = defaultdict(float)
        count, t_start, it_start = 0, time.perf_counter(), self.iter
        try:
            while self.iter < self.max_iters:
                values = self._train_iter(data_iter)
                for k, v in values.items():
                    buf[k] += v
                count += 1
                if bar is not None:
                    bar.update(1)
                if self.iter % self.log_interval == 0 or self.iter == self.max_iters:
                    self._log(buf, count, self.optimizer.param_groups[0]['lr'], t_start, it_start)
                    buf, count = defaultdict(float), 0
                if self.val_loader is not None and self.iter % self.eval_interval == 0:
                    self.evaluate()
                if self.iter % self.ckpt_interval == 0 or self.iter == self.max_iters:
                    self._save_periodic()
                if self._stop_agreed and self.iter < self.max_iters:
                    if self.last_ckpt != osp.join(self.work_dir, f'iter_{self.iter}.pth'):
                        self.last_ckpt = self.save(f'iter_{self.iter}.pth')
                    raise TrainingInterrupted(self._signal or signal.SIGTERM, self.iter, self.last_ckpt)
        except KeyboardInterrupt:
            if not self._stepping:
                # an immediate interrupt: ranks may disagree, so save this rank's view without collectives
                self.last_ckpt = self.save(f'iter_{self.iter}.pth', gather_rng=False)
            raise TrainingInterrupted(signal.SIGINT, self.iter, self.last_ckpt) from None
        finally:
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if bar is not None:
                bar.close()
            if 'tb' in self.writers:
                self.writers['tb'].close()
        self.logger.info(f'training finished at iteration {self.iter}')
