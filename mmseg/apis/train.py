"""``build_trainer`` (the reader of the trainer's sections of the config), ``train_segmentor`` and seeding helpers."""
import importlib
import os
import random
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn

from ..engine.data import build_eval_loader, build_train_loader, shutdown_workers
from ..engine.dist import broadcast_object, get_device, is_distributed
from ..engine.hooks import (BestCheckpointHook, CheckpointHook, EvalHook, LoggerHook, LrSchedulerHook, PreflightHook,
                            SignalGuardHook, build_custom_hooks)
from ..engine.lr_scheduler import build_lr_scheduler
from ..engine.optimizer import build_optimizer
from ..engine.trainer import HookBase, Trainer
from ..models import load_checkpoint
from ..models.utils import revert_sync_batchnorm
from ..utils import ConfigKeyError, get_dist_info, get_root_logger
from .train_config import TrainSettings, check_train_config, fit_global_batch


def init_random_seed(seed: Optional[int] = None) -> int:
    """``seed`` if given, else a random seed drawn on rank 0 and broadcast so every rank uses the same one."""
    if seed is not None:
        return int(seed)
    return int(broadcast_object(int(np.random.randint(2 ** 31))))


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python/numpy/torch (all devices); ``deterministic`` also forces deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def build_evaluator(dataset: Any):
    """A ``SegEvaluator`` matching ``dataset``'s classes, ignore index and zero-label reduction."""
    from ..core.evaluation import SegEvaluator
    return SegEvaluator(num_classes=len(dataset.CLASSES), ignore_index=getattr(dataset, 'ignore_index', 255),
                        reduce_zero_label=getattr(dataset, 'reduce_zero_label', False),
                        class_names=list(dataset.CLASSES))


def import_custom_modules(cfg: Any) -> None:
    """``custom_imports = dict(imports=['my_pkg.hooks'], allow_failed_imports=False)``, as in MMSegmentation."""
    spec = cfg.get('custom_imports')
    if not spec:
        return
    spec = dict(spec)
    names = spec.pop('imports', [])
    allow_failed = spec.pop('allow_failed_imports', False)
    if spec:
        raise ConfigKeyError(f"unknown key 'custom_imports.{sorted(spec)[0]}' (expected imports, allow_failed_imports)")
    for name in [names] if isinstance(names, str) else names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            if not allow_failed:
                raise ImportError(f"custom_imports: cannot import '{name}': {e}") from e
            get_root_logger().warning(f"custom_imports: '{name}' not imported ({e})")


def _evaluation_fn(cfg: Any, val_dataset: Any, distributed: bool, metric: Any) -> Callable:
    """``evaluate(model) -> results`` over ``val_dataset``."""
    from ..core.evaluation import multi_gpu_test, single_gpu_test
    loader = build_eval_loader(val_dataset, 1, cfg.data.get('workers_per_gpu', 0), distributed)
    evaluator = build_evaluator(val_dataset)
    metrics = list(metric) if isinstance(metric, (list, tuple)) else [metric]
    test = multi_gpu_test if distributed else single_gpu_test

    def evaluate(model: nn.Module) -> Dict[str, Any]:
        evaluator.reset()
        try:
            test(model, loader, evaluator, keep_preds=False)
        finally:  # an error or a stop mid-evaluation must not leave the workers (they ignore SIGTERM) behind
            shutdown_workers(loader)
        return evaluator.evaluate(metrics, logger=get_root_logger())
    return evaluate


def build_trainer(cfg: Any, model: nn.Module, dataset: Any = None, distributed: bool = False,
                  validate: bool = False, timestamp: Optional[str] = None, meta: Optional[Dict[str, Any]] = None,
                  preflight: bool = True, settings: Optional[TrainSettings] = None) -> Trainer:
    """Build the trainer from the trainer's sections of the config: place the model, build the optimizer, the LR
    schedule, the data and the hooks, then resume (``cfg.resume_from``) or load weights (``cfg.load_from``).

    ``settings`` is the config as :func:`~mmseg.apis.train_config.check_train_config` read it (and
    ``fit_global_batch`` fitted it to the GPUs); ``tools/train.py`` passes it so the config is read once. Without
    it both run here.
    ``dataset`` defaults to ``cfg.data.train``; ``validate`` evaluates ``cfg.data.val`` every
    ``evaluation.interval`` iterations; ``preflight`` checks every file of the datasets and their agreement with
    the model before the first iteration (``mmseg.datasets.preflight``; cached, so a restart is instant).
    """
    logger = get_root_logger()
    distributed = distributed and is_distributed()
    if settings is None:
        settings = fit_global_batch(cfg, check_train_config(cfg), get_dist_info()[1] if distributed else 1)
    import_custom_modules(cfg)
    workflow = cfg.get('workflow') or [('train', 1)]
    if [tuple(w)[0] for w in workflow] != ['train']:
        logger.warning(f'workflow {workflow}: only the train phase runs; validation uses `evaluation`')
    device = get_device()
    if not distributed or device.type != 'cuda':  # SyncBN only works under a CUDA process group
        if any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
            logger.info('SyncBN → BN (not a CUDA distributed run)')
            model = revert_sync_batchnorm(model)
    # channels-last is decided here only: oneDNN's depthwise convolutions are faster NHWC on CPU
    channels_last = settings.channels_last
    channels_last = device.type == 'cpu' if channels_last in ('auto', None) else bool(channels_last)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    from ..datasets import build_dataset
    if dataset is None:
        dataset = build_dataset(cfg.data.train)
    dataset = dataset[0] if isinstance(dataset, (list, tuple)) else dataset
    samples_per_gpu, workers = settings.samples_per_gpu, int(cfg.data.get('workers_per_gpu', 0))
    seed = int(cfg.get('seed') or 0)

    # reads trainer.seed when training starts, not now: resume may replace it with the checkpoint's data seed
    def make_loader(start_samples: int):
        return build_train_loader(dataset, samples_per_gpu, workers, trainer.seed, start_samples=start_samples)

    log_hook = LoggerHook(settings.log_interval, timestamp or time.strftime('%Y%m%d_%H%M%S', time.localtime()),
                          tensorboard=settings.tensorboard)
    trainer = Trainer(model, build_optimizer(model, cfg.optimizer), make_loader, settings.max_iters,
                      samples_per_gpu, cfg.work_dir, device, amp=settings.amp, accum=settings.accum,
                      grad_clip=settings.grad_clip, channels_last=channels_last, distributed=distributed,
                      find_unused_parameters=bool(cfg.get('find_unused_parameters', False)), seed=seed, meta=meta,
                      make_writers=lambda: log_hook.open_writers(trainer))
    checkpoint = CheckpointHook(settings.ckpt_interval, settings.max_keep_ckpts)
    hooks: List[HookBase] = [
        LrSchedulerHook(build_lr_scheduler(trainer.optimizer, cfg.lr_config, settings.max_iters)),
        log_hook,
        checkpoint,
    ]
    built = {'train': dataset}
    if validate:
        built['val'] = build_dataset(cfg.data.val, dict(test_mode=True))
        hooks.append(EvalHook(_evaluation_fn(cfg, built['val'], distributed, settings.eval_metric),
                              settings.eval_interval, list(built['val'].CLASSES), settings.eval_on_error))
        if settings.save_best:
            hooks.append(BestCheckpointHook(settings.save_best))
    if preflight:
        from ..datasets.preflight import preflight_once
        hooks.append(PreflightHook(lambda: preflight_once(cfg, splits=tuple(built), work_dir=cfg.work_dir,
                                                          datasets=built)))
    hooks += build_custom_hooks(cfg.get('custom_hooks'))
    hooks.append(SignalGuardHook(checkpoint))
    trainer.register_hooks(hooks)
    if cfg.get('resume_from'):
        trainer.resume(cfg.resume_from)
    elif cfg.get('load_from'):
        load_checkpoint(model, cfg.load_from)
    return trainer


def train_segmentor(model: nn.Module, dataset: Any, cfg: Any, distributed: bool = False, validate: bool = False,
                    timestamp: Optional[str] = None, meta: Optional[Dict[str, Any]] = None,
                    preflight: bool = True, settings: Optional[TrainSettings] = None) -> Trainer:
    """Train ``model`` on ``dataset`` (or ``[dataset]``) per ``cfg`` (mmseg 0.24.1's entry point); returns the
    finished :class:`~mmseg.engine.Trainer`. See :func:`build_trainer`."""
    trainer = build_trainer(cfg, model, dataset, distributed, validate, timestamp, meta, preflight, settings)
    trainer.train()
    return trainer
