"""Strict training configs: typos fail early with a close match; MMSeg keys are mapped or rejected with a reason."""
import glob
import os.path as osp
import sys

import pytest

from mmseg.apis.train_config import check_train_config
from mmseg.utils import ConfigKeyError
from mmseg.utils.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(ROOT, 'tests', 'engine', 'conftest.py')


@pytest.fixture(scope='module')
def tiny_cfg_path(tmp_path_factory):
    import importlib.util
    spec = importlib.util.spec_from_file_location('_engine_conftest', TINY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path = tmp_path_factory.mktemp('cfg') / 'tiny.py'
    path.write_text(mod.TINY_CONFIG.replace('{data_root}', '/nonexistent'))
    return str(path)


def _cfg(path, **options):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('options, message', [
    ({'runner.max_iter': 2}, "unknown key 'runner.max_iter' (did you mean 'runner.max_iters'?)"),
    ({'evaluation.intervall': 5}, "unknown key 'evaluation.intervall' (did you mean 'evaluation.interval'?)"),
    ({'checkpoint_config.max_keep_ckpt': 2},
     "unknown key 'checkpoint_config.max_keep_ckpt' (did you mean 'checkpoint_config.max_keep_ckpts'?)"),
    ({'optimzer': dict(type='SGD', lr=0.1)}, "config key 'optimzer' is read by nothing (did you mean 'optimizer'?)"),
    ({'runner.max_iters': 0}, 'runner.max_iters must be a positive integer, got 0'),
    ({'runner.type': 'EpochBasedRunner'}, "runner.type 'EpochBasedRunner' is not supported"),
    ({'runner.max_epochs': 3}, 'runner.max_epochs is not supported: epoch-based training'),
    ({'evaluation.by_epoch': True}, 'evaluation.by_epoch=True is not supported'),
    ({'checkpoint_config.save_optimizer': False}, 'tools/publish_model.py'),
    ({'log_config.hooks': [dict(type='WandbLoggerHook')]}, "log_config.hooks type 'WandbLoggerHook' is not supported"),
    ({'optimizer_config.type': 'Fp16OptimizerHook', 'optimizer_config.loss_scale': 512.},
     "optimizer_config.loss_scale=512.0 is not supported"),
    ({'amp': 'fp8'}, "amp must be None, 'bf16' or 'fp16', got 'fp8'"),
    ({'data.train_dataloader': dict(samples_per_gpu=4)}, 'set data.samples_per_gpu'),
])
def test_rejected_with_the_key_and_a_fix(tiny_cfg_path, options, message):
    with pytest.raises(ConfigKeyError) as info:
        check_train_config(_cfg(tiny_cfg_path, **options))
    assert message in str(info.value)


def test_mmseg_spellings_are_mapped(tiny_cfg_path, caplog):
    s = check_train_config(_cfg(tiny_cfg_path, **{'optimizer_config.type': 'Fp16OptimizerHook',
                                                  'optimizer_config.loss_scale': 'dynamic',
                                                  'evaluation.gpu_collect': True}))
    assert s.amp == 'fp16'
    assert check_train_config(_cfg(tiny_cfg_path, fp16=dict(loss_scale='dynamic'))).amp == 'fp16'
    import logging
    logger = logging.getLogger('mmseg')
    logger.addHandler(caplog.handler)
    try:
        check_train_config(_cfg(tiny_cfg_path, **{'evaluation.efficient_test': True}))
    finally:
        logger.removeHandler(caplog.handler)
    assert 'evaluation.efficient_test has no effect here: predictions are never stored' in caplog.text
    s = check_train_config(_cfg(tiny_cfg_path, **{'optimizer_config.cumulative_iters': 4,
                                                  'log_config.hooks': [dict(type='TensorboardLoggerHook')]}))
    assert s.accum == 4 and s.tensorboard and s.max_iters == 6 and s.ckpt_interval == 3


def test_helper_variables_and_every_shipped_config_pass(tmp_path):
    demo = osp.join(ROOT, 'local_configs', 'segnext', 'tiny', 'segnext.tiny.demo.py')
    (tmp_path / 'c.py').write_text(f"_base_ = '{demo}'\nmy_scale = (64, 64)\n"
                                   "model = dict(test_cfg=dict(crop_size=my_scale))\n")
    check_train_config(Config.fromfile(str(tmp_path / 'c.py')))  # my_scale is read by the config itself
    # the shipped configs only: a user's own configs (the README saves one under local_configs/mine/) are theirs
    configs = glob.glob(osp.join(ROOT, 'local_configs', 'segnext', '**', '*.py'), recursive=True)
    assert len(configs) >= 29
    for path in configs:
        cfg = Config.fromfile(path)
        check_train_config(cfg)
        dumped = tmp_path / osp.basename(path)
        cfg.dump(str(dumped))  # a run's dumped config (helpers resolved) is accepted too
        check_train_config(Config.fromfile(str(dumped)))


def test_train_tool_reports_a_typo_before_any_work(tiny_cfg_path, capsys):
    sys.path.insert(0, ROOT)
    from tools.train import main
    assert main([tiny_cfg_path, '--cfg-options', 'runner.max_iter=2']) == 2
    err = capsys.readouterr().err
    assert "error: unknown key 'runner.max_iter' (did you mean 'runner.max_iters'?)" in err


def _logged(fn):
    import logging
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger('mmseg')
    logger.addHandler(handler)
    try:
        result = fn()
    finally:
        logger.removeHandler(handler)
    return result, [(r.levelname, r.getMessage()) for r in records]


def test_global_batch_logged_warned_kept_or_scaled(tiny_cfg_path):
    from mmseg.apis.train_config import fit_global_batch
    cfg = _cfg(tiny_cfg_path, **{'data.samples_per_gpu': 8, 'data.global_batch': 16})
    s = check_train_config(cfg)
    assert s.global_batch == 16
    same, logs = _logged(lambda: fit_global_batch(cfg, s, 8))  # dist_train.sh CONFIG 8 with the 2-GPU layout
    assert same == s
    assert ('INFO', 'global batch: 8 GPU(s) x 8 samples_per_gpu x 1 accumulation = 64; the recipe '
                    '(data.global_batch) is 16') in logs
    warnings = [m for lvl, m in logs if lvl == 'WARNING']
    assert len(warnings) == 1 and '--keep-global-batch' in warnings[0] and '--auto-scale-lr' in warnings[0]

    kept = fit_global_batch(cfg, s, 8, keep=True)
    assert (kept.samples_per_gpu, kept.accum, cfg.data.samples_per_gpu) == (2, 1, 2)
    cfg = _cfg(tiny_cfg_path, **{'data.samples_per_gpu': 8, 'data.global_batch': 16})
    one = fit_global_batch(cfg, s, 1, keep=True)  # one GPU: 8 images x 2 accumulation steps
    assert (one.samples_per_gpu, one.accum, cfg.optimizer_config['cumulative_iters']) == (8, 2, 2)
    with pytest.raises(ConfigKeyError, match='data.global_batch=16 does not divide over 3 GPUs'):
        fit_global_batch(cfg, s, 3, keep=True)

    cfg = _cfg(tiny_cfg_path, **{'data.samples_per_gpu': 8, 'data.global_batch': 16})
    lr = cfg.optimizer['lr']
    _, logs = _logged(lambda: fit_global_batch(cfg, s, 8, scale_lr=True))
    assert cfg.optimizer['lr'] == pytest.approx(lr * 4) and not [m for lvl, m in logs if lvl == 'WARNING']
    with pytest.raises(ConfigKeyError, match='--keep-global-batch needs'):
        fit_global_batch(_cfg(tiny_cfg_path), check_train_config(_cfg(tiny_cfg_path)), 2, keep=True)


def test_every_recipe_declares_its_global_batch():
    for path in glob.glob(osp.join(ROOT, 'local_configs', 'segnext', '*', '*.py')):
        if path.endswith('demo.py'):
            continue
        s = check_train_config(Config.fromfile(path))
        assert s.global_batch == (8 if '.city.' in path else 16), path


@pytest.mark.parametrize('options, keys', [
    ({'lr_config.warmup_iters': 10}, 'lr_config.warmup_iters=10 is longer than runner.max_iters=6'),
    ({'lr_config': dict(policy='step', step=[1], gamma=0.001)}, 'stays below 1% of its base for'),
    ({'checkpoint_config.interval': 10}, 'checkpoint_config.interval=10 is beyond runner.max_iters=6'),
    ({'evaluation.interval': 10}, 'evaluation.interval=10 is beyond runner.max_iters=6'),
])
def test_schedule_that_cannot_be_meant_warns_once(tiny_cfg_path, options, keys):
    _, logs = _logged(lambda: check_train_config(_cfg(tiny_cfg_path, **options)))
    warnings = [m for lvl, m in logs if lvl == 'WARNING']
    assert len(warnings) == 1 and keys in warnings[0], warnings
    _, logs = _logged(lambda: check_train_config(_cfg(tiny_cfg_path)))
    assert not [m for lvl, m in logs if lvl == 'WARNING']


def test_train_tool_keep_global_batch_needs_the_recipe_batch(tiny_cfg_path, tmp_path, caplog):
    sys.path.insert(0, ROOT)
    from tools.train import main
    import logging
    logger = logging.getLogger('mmseg')
    logger.addHandler(caplog.handler)
    try:
        assert main([tiny_cfg_path, '--work-dir', str(tmp_path), '--keep-global-batch']) == 2
    finally:
        logger.removeHandler(caplog.handler)
    assert "--keep-global-batch needs the recipe's batch: set data.global_batch in the config" in caplog.text
    assert not (tmp_path / '.train.lock').exists()
