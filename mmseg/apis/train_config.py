"""Strict reading of the training part of a config: every key is used, mapped, or rejected with a sentence.

Typos fail before any work with a close match (``runner.max_iter`` → did you mean ``runner.max_iters``?).
MMSegmentation 0.x keys that we honour differently are mapped (``fp16``/``Fp16OptimizerHook`` → ``amp='fp16'``)
or rejected with what to use instead; keys that change nothing here are logged once, never dropped silently.
"""
import ast
import difflib
from typing import Any, Dict, Iterable, Optional

from ..utils import ConfigKeyError, get_root_logger

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
    'data': {'samples_per_gpu': None, 'workers_per_gpu': None, 'train': None, 'val': None, 'test': None},
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
_TOLD: set = set()  # keys already logged as having no effect (the config is checked by the tool, then the trainer)
LOG_HOOKS = {'TextLoggerHook', 'TensorboardLoggerHook'}
OPTIMIZER_HOOKS = {'OptimizerHook', 'GradientCumulativeOptimizerHook', 'Fp16OptimizerHook',
                   'GradientCumulativeFp16OptimizerHook'}


def _close(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ''


def names_used_in(text: str) -> set:
    """Every name the config source reads (helper variables such as ``crop_size`` are read by the config)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def check_train_config(cfg: Any) -> Dict[str, Any]:
    """Validate ``cfg`` for training; return the settings the trainer uses (mapped from MMSeg spellings)."""
    logger = get_root_logger()
    used = names_used_in(cfg.text)
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
            if known[key] is not None and full not in _TOLD:
                _TOLD.add(full)
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
        if 'fp16' not in _TOLD:
            _TOLD.add('fp16')
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
    return dict(
        max_iters=max_iters, amp=amp, accum=accum, grad_clip=opt_cfg.get('grad_clip'),
        ckpt_interval=int(ckpt.get('interval', max_iters)), max_keep_ckpts=ckpt.get('max_keep_ckpts') or -1,
        eval_interval=int(evaluation.get('interval', max_iters)), eval_metric=evaluation.get('metric', 'mIoU'),
        save_best=evaluation.get('save_best'), eval_on_error=evaluation.get('on_error', 'stop'),
        log_interval=int(log_cfg.get('interval', 50)), tensorboard='TensorboardLoggerHook' in hook_types,
        channels_last=channels_last,
    )
