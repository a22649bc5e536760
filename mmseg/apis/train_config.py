"""Strict reading of the training part of a config: every key is used, mapped, or rejected with a sentence.

Typos fail before any work with a close match (``runner.max_iter`` → did you mean ``runner.max_iters``?).
MMSegmentation 0.x keys that we honour differently are mapped (``fp16``/``Fp16OptimizerHook`` → ``amp='fp16'``)
or rejected with what to use instead; keys that change nothing here are logged once, never dropped silently.
"""
import dataclasses
import difflib
from typing import Any, Dict, Iterable, Optional, Union

from ..utils import ConfigKeyError, get_root_logger
from ..utils.config import names_read

# Top-level keys something reads (the trainer, the tools, the builders)
TOP_LEVEL = {
    'model', 'data', 'optimizer', 'optimizer_config', 'lr_config', 'runner', 'checkpoint_config', 'evaluation',
    'log_config', 'custom_hooks', 'custom_imports', 'work_dir', 'load_from', 'resume_from', 'seed', 'amp',
    'channels_last', 'find_unused_parameters', 'dist_params', 'log_level', 'workflow', 'cudnn_benchmark', 'fp16',
    'gpu_ids', 'device', 'auto_resume', 'opencv_num_threads', 'mp_start_method',
}
# Helper variables of MMSegmentation-style configs: used by the config itself, kept in its dumps.
HELPERS = {'dataset_type', 'data_root', 'img_norm_cfg', 'crop_size', 'img_scale', 'train_pipeline', 'test_pipeline',
           'norm_cfg', 'ham_norm_cfg', 'backbone_norm_cfg', 'checkpoint', 'checkpoint_file', 'pretrained'}

# section -> {key: None (read) | str (read by nothing here: logged with this reason)}
SECTIONS: Dict[str, Dict[str, Optional[str]]] = {
    'runner': {'type': None, 'max_iters': None},
    'checkpoint_config': {'interval': None, 'by_epoch': None, 'max_keep_ckpts': None, 'save_optimizer': None,
                          'meta': 'extra meta is not stored; the checkpoint meta holds config, classes and palette',
                          'create_symlink': 'latest.pth is always written (a hard link)'},
    'evaluation': {'interval': None, 'metric': None, 'save_best': None, 'by_epoch': None, 'on_error': None,
                   'rule': None, 'pre_eval': 'metrics are always accumulated image by image',
                   'efficient_test': 'predictions are never stored during training evaluation',
                   'gpu_collect': 'results are gathered by dataset index on every backend'},
    'log_config': {'interval': None, 'hooks': None},
    'optimizer_config': {'type': None, 'grad_clip': None, 'cumulative_iters': None, 'loss_scale': None,
                         'distributed': 'DDP is used whenever the run is distributed'},
    'data': {'samples_per_gpu': None, 'workers_per_gpu': None, 'global_batch': None, 'train': None, 'val': None,
             'test': None},
}
REJECTED = {
    'runner.max_epochs': "epoch-based training is not supported: use runner = dict(type='IterBasedRunner', "
                         'max_iters=N)',
    'checkpoint_config.out_dir': 'checkpoints are written to the work dir: use --work-dir',
    'evaluation.start': 'evaluation runs every evaluation.interval iterations from the start',
    'data.train_dataloader': 'set data.samples_per_gpu and data.workers_per_gpu instead',
    'data.val_dataloader': 'the validation loader uses one image per GPU and data.workers_per_gpu',
    'data.test_dataloader': 'the test loader uses one image per GPU and data.workers_per_gpu',
}
LOG_HOOKS = {'TextLoggerHook', 'TensorboardLoggerHook'}
OPTIMIZER_HOOKS = {'OptimizerHook', 'GradientCumulativeOptimizerHook', 'Fp16OptimizerHook',
                   'GradientCumulativeFp16OptimizerHook'}


def _close(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ''


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """What the trainer reads from a training config, checked and mapped from MMSeg spellings (one reading:
    ``tools/train.py`` checks the config once and passes this into ``build_trainer``)."""
    max_iters: int
    samples_per_gpu: int
    accum: int
    amp: Optional[str]
    grad_clip: Optional[Dict[str, Any]]
    ckpt_interval: int
    max_keep_ckpts: int
    eval_interval: int
    eval_metric: Any
    save_best: Optional[str]
    eval_on_error: str
    log_interval: int
    tensorboard: bool
    channels_last: Union[str, bool, None]
    global_batch: Optional[int]  # the recipe's total images per optimizer step (data.global_batch)


def check_train_config(cfg: Any) -> TrainSettings:
    """Validate ``cfg`` for training (errors before any work, warnings for a schedule that cannot be meant);
    return the settings the trainer uses."""
    logger = get_root_logger()
    used = names_read(cfg.text)
    for key in cfg.keys():
        if key in TOP_LEVEL or key in HELPERS or key.startswith('_') or key in used:
            continue
        raise ConfigKeyError(f"config key '{key}' is read by nothing{_close(key, TOP_LEVEL | HELPERS)}; remove it, "
                             "or prefix a helper variable with '_'")
    for section, known in SECTIONS.items():
        value = cfg.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ConfigKeyError(f'{section} must be a dict, got {value!r}')
        for key in value:
            full = f'{section}.{key}'
            if full in REJECTED:
                raise ConfigKeyError(f'{full} is not supported: {REJECTED[full]}')
            if key not in known:
                raise ConfigKeyError(f"unknown key '{full}'{_close(full, [f'{section}.{k}' for k in known])}")
            if known[key] is not None:
                logger.info(f'{full} has no effect here: {known[key]}')

    runner = dict(cfg.get('runner') or {})
    if runner.get('type', 'IterBasedRunner') != 'IterBasedRunner':
        raise ConfigKeyError(f"runner.type '{runner['type']}' is not supported: use runner = "
                             "dict(type='IterBasedRunner', max_iters=N)")
    if not isinstance(runner.get('max_iters'), int) or runner['max_iters'] < 1:
        raise ConfigKeyError(f"runner.max_iters must be a positive integer, got {runner.get('max_iters')!r}")
    max_iters = runner['max_iters']

    ckpt = dict(cfg.get('checkpoint_config') or {})
    evaluation = dict(cfg.get('evaluation') or {})
    for name, section in (('checkpoint_config', ckpt), ('evaluation', evaluation)):
        if section.get('by_epoch'):
            raise ConfigKeyError(f'{name}.by_epoch=True is not supported: training is iteration based; set '
                                 f'{name}.by_epoch=False and an interval in iterations')
    if ckpt.get('save_optimizer') is False:
        raise ConfigKeyError('checkpoint_config.save_optimizer=False is not supported: training checkpoints keep '
                             'the optimizer for exact resume; strip it afterwards with tools/publish_model.py')
    if evaluation.get('rule', 'greater') != 'greater':
        raise ConfigKeyError(f"evaluation.rule '{evaluation['rule']}' is not supported: the best checkpoint is the "
                             'one with the greatest save_best metric')

    log_cfg = dict(cfg.get('log_config') or {})
    hook_types = [h.get('type') for h in log_cfg.get('hooks') or []]
    for t in hook_types:
        if t not in LOG_HOOKS:
            raise ConfigKeyError(f"log_config.hooks type '{t}' is not supported{_close(t, LOG_HOOKS)}: use "
                                 f'{sorted(LOG_HOOKS)}, or write a HookBase and add it with custom_hooks')

    opt_cfg = dict(cfg.get('optimizer_config') or {})
    opt_type = opt_cfg.get('type', 'OptimizerHook')
    if opt_type not in OPTIMIZER_HOOKS:
        raise ConfigKeyError(f"optimizer_config.type '{opt_type}' is not supported{_close(opt_type, OPTIMIZER_HOOKS)}")
    amp = cfg.get('amp')
    if amp not in (None, 'bf16', 'fp16'):
        raise ConfigKeyError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if 'Fp16' in opt_type or cfg.get('fp16') is not None:
        if amp == 'bf16':
            raise ConfigKeyError("amp='bf16' contradicts fp16 / Fp16OptimizerHook in the config: keep one")
        logger.info('fp16 / Fp16OptimizerHook in the config: training with amp=fp16 and a dynamic GradScaler')
        amp = 'fp16'
    if 'loss_scale' in opt_cfg and opt_cfg['loss_scale'] != 'dynamic':
        raise ConfigKeyError(f"optimizer_config.loss_scale={opt_cfg['loss_scale']!r} is not supported: fp16 uses a "
                             "dynamic GradScaler (loss_scale='dynamic')")
    accum = int(opt_cfg.get('cumulative_iters', 1))
    if accum < 1:
        raise ConfigKeyError(f'optimizer_config.cumulative_iters must be >= 1, got {accum}')

    channels_last = cfg.get('channels_last', 'auto')
    if channels_last not in ('auto', None, True, False):
        raise ConfigKeyError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    data = dict(cfg.get('data') or {})
    samples_per_gpu = data.get('samples_per_gpu')
    if not isinstance(samples_per_gpu, int) or samples_per_gpu < 1:
        raise ConfigKeyError(f'data.samples_per_gpu must be a positive integer, got {samples_per_gpu!r}')
    global_batch = data.get('global_batch')
    if global_batch is not None and (not isinstance(global_batch, int) or global_batch < 1):
        raise ConfigKeyError(f'data.global_batch must be a positive integer (the recipe\'s images per optimizer '
                             f'step over all GPUs), got {global_batch!r}')
    settings = TrainSettings(
        max_iters=max_iters, samples_per_gpu=samples_per_gpu, accum=accum, amp=amp, grad_clip=opt_cfg.get('grad_clip'),
        ckpt_interval=int(ckpt.get('interval', max_iters)), max_keep_ckpts=ckpt.get('max_keep_ckpts') or -1,
        eval_interval=int(evaluation.get('interval', max_iters)), eval_metric=evaluation.get('metric', 'mIoU'),
        save_best=evaluation.get('save_best'), eval_on_error=evaluation.get('on_error', 'stop'),
        log_interval=int(log_cfg.get('interval', 50)), tensorboard='TensorboardLoggerHook' in hook_types,
        channels_last=channels_last, global_batch=global_batch)
    warn_schedule(cfg, settings)
    return settings


def warn_schedule(cfg: Any, settings: TrainSettings) -> None:
    """One warning per schedule that trains but cannot be what was meant, naming the keys and the fix."""
    logger = get_root_logger()
    n = settings.max_iters
    lr_cfg = dict(cfg.get('lr_config') or {})
    warmup_iters = int(lr_cfg.get('warmup_iters') or 0) if lr_cfg.get('warmup') else 0
    if warmup_iters > n:
        logger.warning(f'lr_config.warmup_iters={warmup_iters} is longer than runner.max_iters={n}: the run ends '
                       'inside the warmup; shorten lr_config.warmup_iters or raise runner.max_iters')
    low = _fraction_below(lr_cfg, n, 0.01)
    if low is not None and low > 0.5:
        logger.warning(f'the learning rate stays below 1% of its base for {low:.0%} of the run (lr_config: '
                       f'{lr_cfg}, runner.max_iters={n}); check lr_config.min_lr, step/gamma, warmup_ratio and '
                       'warmup_iters against runner.max_iters')
    if settings.ckpt_interval > n:
        logger.warning(f'checkpoint_config.interval={settings.ckpt_interval} is beyond runner.max_iters={n}: only '
                       'the last iteration is saved, so a stop loses the whole run; set checkpoint_config.interval '
                       f'<= {n}')
    if settings.eval_interval > n:
        logger.warning(f'evaluation.interval={settings.eval_interval} is beyond runner.max_iters={n}: training '
                       f'never evaluates; set evaluation.interval <= {n}, or train with --no-validate')


def _fraction_below(lr_cfg: Dict[str, Any], max_iters: int, ratio: float) -> Optional[float]:
    """Fraction of the iterations (1000 sampled) whose lr is below ``ratio`` × its base."""
    import torch
    from ..engine.lr_scheduler import build_lr_scheduler
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.)
    try:
        sched = build_lr_scheduler(opt, lr_cfg, max_iters)  # a bad lr_config fails here, before any work
    except (ValueError, TypeError):
        return None
    points = sorted({int(i * max_iters / 1000) for i in range(1000)})
    return sum(sched.lr_at(1., it) < ratio for it in points) / len(points)


def fit_global_batch(cfg: Any, settings: TrainSettings, world_size: int, keep: bool = False,
                     scale_lr: bool = False) -> TrainSettings:
    """Log GPUs × samples_per_gpu × accumulation against the recipe's ``data.global_batch``; warn once when they
    differ. ``keep`` (``--keep-global-batch``) sets samples_per_gpu = global ÷ GPUs, split into gradient
    accumulation when that is more than the config's samples_per_gpu (the memory it was planned for);
    ``scale_lr`` (``--auto-scale-lr``) scales ``optimizer.lr`` by actual ÷ recipe batch (linear rule). Both
    change ``cfg`` too, so the dumped config is what ran."""
    logger = get_root_logger()
    spg, accum, target = settings.samples_per_gpu, settings.accum, settings.global_batch
    flag = '--keep-global-batch' if keep else '--auto-scale-lr' if scale_lr else None
    if target is None:
        if flag:
            raise ConfigKeyError(f'{flag} needs the recipe\'s batch: set data.global_batch in the config')
        logger.info(f'global batch: {world_size} GPU(s) x {spg} samples_per_gpu x {accum} accumulation = '
                    f'{world_size * spg * accum} (the config sets no data.global_batch)')
        return settings
    if keep:
        if target % world_size:
            raise ConfigKeyError(f'--keep-global-batch: data.global_batch={target} does not divide over '
                                 f'{world_size} GPUs; use a GPU count that divides it, or --auto-scale-lr')
        per_gpu = target // world_size
        spg = max(d for d in range(1, min(spg, per_gpu) + 1) if per_gpu % d == 0)
        accum = per_gpu // spg
        cfg.data.samples_per_gpu = spg
        cfg.optimizer_config = dict(cfg.get('optimizer_config') or {}, cumulative_iters=accum)
    actual = world_size * spg * accum
    logger.info(f'global batch: {world_size} GPU(s) x {spg} samples_per_gpu x {accum} accumulation = {actual}; '
                f'the recipe (data.global_batch) is {target}')
    if actual != target:
        if scale_lr:
            factor = actual / target
            cfg.optimizer['lr'] = cfg.optimizer['lr'] * factor
            logger.info(f'--auto-scale-lr: optimizer.lr x {actual}/{target} = {cfg.optimizer["lr"]:.4g}')
        else:
            logger.warning(f'the global batch {actual} is not the recipe\'s {target} (data.global_batch), whose '
                           'learning rate and schedule it keeps: add --keep-global-batch (samples_per_gpu = '
                           f'{target} / GPUs, with gradient accumulation where needed) or --auto-scale-lr '
                           f'(optimizer.lr x {actual}/{target})')
    return dataclasses.replace(settings, samples_per_gpu=spg, accum=accum)
