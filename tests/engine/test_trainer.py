"""The trainer and its hooks on a tiny SegNeXt-like model and 32×32 crops (in-process, CPU)."""
import glob
import json
import os
import os.path as osp
import signal

import pytest
import torch

from mmseg.apis import set_random_seed, train_segmentor
from mmseg.engine import InfiniteResumableSampler, NonFiniteLossError, TrainingInterrupted
from mmseg.utils.config import Config


def _train(config, work_dir, resume=None, validate=True, hook=None, **overrides):
    """Build and train; ``hook(call_index, losses)`` may alter each training forward's loss dict."""
    from mmseg.datasets import build_dataset
    from mmseg.models import build_segmentor
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(overrides)
    cfg.work_dir, cfg.seed = str(work_dir), 3
    if resume:
        cfg.resume_from = resume
    set_random_seed(3)
    model = build_segmentor(cfg.model)
    model.init_weights()
    if hook is not None:
        calls = [0]
        original = model.forward

        def patched(*a, **k):
            out = original(*a, **k)
            if k.get('return_loss', True):
                calls[0] += 1
                out = hook(calls[0], out)
            return out
        model.forward = patched
    return train_segmentor(model, build_dataset(cfg.data.train), cfg, validate=validate)


def _weights(path):
    return torch.load(path, weights_only=True)['state_dict']


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope='module')
def straight(tiny_config, tmp_path_factory):
    """6 uninterrupted iterations with evaluation + checkpoints every 3."""
    wd = tmp_path_factory.mktemp('straight')
    _train(tiny_config, wd)
    return wd


def test_resume_matches_uninterrupted(straight, tiny_config, tmp_path):
    trainer = _train(tiny_config, tmp_path, resume=str(straight / 'iter_3.pth'))
    assert trainer.iter == 6
    _assert_same(_weights(straight / 'iter_6.pth'), _weights(tmp_path / 'iter_6.pth'))


def test_outputs_logs_and_best(straight):
    assert sorted(osp.basename(p) for p in glob.glob(str(straight / '*.pth'))) == sorted(
        ['iter_3.pth', 'iter_6.pth', 'latest.pth', osp.basename(glob.glob(str(straight / 'best_mIoU_iter_*.pth'))[0])])
    assert torch.load(straight / 'latest.pth', weights_only=True)['meta']['iter'] == 6
    logs = glob.glob(str(straight / '*.log.json'))
    assert len(logs) == 1
    lines = [json.loads(ln) for ln in open(logs[0])]
    assert 'mode' not in lines[0]  # meta line first
    train = [ln for ln in lines if ln.get('mode') == 'train']
    val = [ln for ln in lines if ln.get('mode') == 'val']
    assert [ln['iter'] for ln in train] == [2, 4, 6] and [ln['iter'] for ln in val] == [3, 6]
    for key in ('lr', 'loss', 'decode.loss_ce', 'decode.acc_seg', 'time', 'data_time'):
        assert key in train[0], key
    for key in ('mIoU', 'aAcc', 'mAcc'):
        assert 0 <= val[0][key] <= 1
    best = max(val, key=lambda v: v['mIoU'])
    meta = torch.load(straight / 'iter_6.pth', weights_only=True)['meta']['hooks']['BestCheckpointHook']
    assert meta['best_score'] == pytest.approx(best['mIoU'])
    assert osp.basename(meta['best_ckpt']) == f"best_mIoU_iter_{best['iter']}.pth"


def test_nonfinite_loss_stops_and_keeps_last_good(tiny_config, tmp_path):
    def poison(call, out):
        if call == 5:
            out['decode.loss_ce'] = out['decode.loss_ce'] * float('nan')
        return out
    with pytest.raises(NonFiniteLossError, match='iteration 5'):
        _train(tiny_config, tmp_path, validate=False, hook=poison)
    assert not osp.exists(tmp_path / 'iter_5.pth') and not osp.exists(tmp_path / 'iter_6.pth')
    ckpt = torch.load(tmp_path / 'latest.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 3
    assert all(torch.isfinite(v.float()).all() for v in ckpt['state_dict'].values())


def test_sigterm_saves_resumable_checkpoint(straight, tiny_config, tmp_path):
    def terminate(call, out):
        if call == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return out
    with pytest.raises(TrainingInterrupted) as info:
        _train(tiny_config, tmp_path / 'a', hook=terminate)
    assert info.value.signum == signal.SIGTERM and info.value.iteration == 2
    assert torch.load(tmp_path / 'a' / 'latest.pth', weights_only=True)['meta']['iter'] == 2
    _train(tiny_config, tmp_path / 'b', resume=str(tmp_path / 'a' / 'iter_2.pth'))
    _assert_same(_weights(straight / 'iter_6.pth'), _weights(tmp_path / 'b' / 'iter_6.pth'))


def test_max_keep_ckpts_accumulation_amp_tensorboard(tiny_config, tmp_path):
    trainer = _train(tiny_config, tmp_path, validate=False,
                    **{'checkpoint_config.interval': 1, 'checkpoint_config.max_keep_ckpts': 2,
                       'runner.max_iters': 3, 'optimizer_config.cumulative_iters': 2, 'amp': 'bf16',
                       'channels_last': True,
                       'log_config.hooks': [dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]})
    logs = [f for f in os.listdir(tmp_path) if f.endswith('.log.json')]
    assert sorted(os.listdir(tmp_path)) == sorted(['iter_2.pth', 'iter_3.pth', 'latest.pth', 'tf_logs',
                                                   'preflight_cache.json', *logs])
    assert any(f.startswith('events.out.tfevents') for f in os.listdir(tmp_path / 'tf_logs'))
    meta = torch.load(tmp_path / 'latest.pth', weights_only=True)['meta']
    assert meta['sampler']['consumed'] == 3 * 2 * 2  # iterations × samples_per_gpu × micro-batches
    assert trainer.iter == 3


def test_sampler_resume_and_shards():
    full = InfiniteResumableSampler(10, seed=5, rank=0, world_size=1)
    it = iter(full)
    stream = [next(it) for _ in range(25)]
    resumed = iter(InfiniteResumableSampler(10, seed=5, start=13))
    assert [next(resumed) for _ in range(12)] == stream[13:]
    assert sorted(i for i, _ in stream[:10]) == list(range(10))  # one epoch is a permutation
    shards = [InfiniteResumableSampler(7, seed=5, rank=r, world_size=2).epoch_indices(0) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 4 and set(shards[0]) | set(shards[1]) == set(range(7))


class _Recorder:
    """A user hook (registered in HOOKS, added with ``custom_hooks``) that records what it sees."""
    calls = []


def _recorder_hook():
    from mmseg.engine import HookBase
    from mmseg.registry import HOOKS

    if 'RecorderHook' in HOOKS:
        return

    @HOOKS.register_module()
    class RecorderHook(HookBase):
        def __init__(self, tag):
            self.tag = tag

        def before_train(self):
            _Recorder.calls.append((self.tag, 'before_train', self.trainer.iter))

        def before_step(self):
            _Recorder.calls.append((self.tag, 'before_step', self.trainer.iter))

        def after_step(self):
            on_disk = osp.exists(osp.join(self.trainer.work_dir, f'iter_{self.trainer.iter}.pth'))
            _Recorder.calls.append((self.tag, 'after_step', self.trainer.iter, on_disk))

        def after_train(self):
            _Recorder.calls.append((self.tag, 'after_train', self.trainer.iter))


def test_custom_hooks_order_and_priority(tiny_config, tmp_path):
    _recorder_hook()
    _Recorder.calls.clear()
    _train(tiny_config, tmp_path, validate=False, **{
        'runner.max_iters': 3, 'custom_hooks': [dict(type='RecorderHook', tag='low', priority='VERY_LOW'),
                                                dict(type='RecorderHook', tag='first', priority=0)]})
    first = [c for c in _Recorder.calls if c[0] == 'first']
    assert [c[1:3] for c in first] == [('before_train', 0), ('before_step', 0), ('after_step', 1),
                                       ('before_step', 1), ('after_step', 2), ('before_step', 2),
                                       ('after_step', 3), ('after_train', 3)]
    # priority 0 runs before the CheckpointHook (30), VERY_LOW after it: only the latter sees iter_3.pth
    assert [c[3] for c in first if c[1] == 'after_step'] == [False, False, False]
    low = [c for c in _Recorder.calls if c[0] == 'low' and c[1] == 'after_step']
    assert [c[3] for c in low] == [False, False, True]
    assert _Recorder.calls.index(('first', 'before_train', 0)) < _Recorder.calls.index(('low', 'before_train', 0))


def test_checkpoint_is_on_disk_before_evaluation(tiny_config, tmp_path, monkeypatch):
    import mmseg.apis.train as train_api
    seen = []
    original = train_api._evaluation_fn

    def spy(*args):
        evaluate = original(*args)

        def wrapped(model):
            seen.append(sorted(f for f in os.listdir(tmp_path) if f.startswith('iter_')))
            return evaluate(model)
        return wrapped
    monkeypatch.setattr(train_api, '_evaluation_fn', spy)
    _train(tiny_config, tmp_path)
    assert seen == [['iter_3.pth'], ['iter_3.pth', 'iter_6.pth']]


def test_progress_line_without_a_terminal(tiny_config, tmp_path, caplog):
    from mmseg.apis.train import build_trainer
    from mmseg.datasets import build_dataset
    from mmseg.engine import LoggerHook
    from mmseg.models import build_segmentor
    cfg = Config.fromfile(tiny_config)
    cfg.merge_from_dict({'runner.max_iters': 4, 'log_config.interval': 4})
    cfg.work_dir = str(tmp_path)
    trainer = build_trainer(cfg, build_segmentor(cfg.model), build_dataset(cfg.data.train))
    logger_hook = [h for h in trainer.hooks if isinstance(h, LoggerHook)][0]
    logger_hook.is_tty, logger_hook.progress_every = False, 0.  # a piped run where every step is "30 s" later
    with caplog.at_level('INFO', logger='mmseg'):
        caplog.handler.setLevel('INFO')
        import logging
        logging.getLogger('mmseg').addHandler(caplog.handler)
        try:
            trainer.train()
        finally:
            logging.getLogger('mmseg').removeHandler(caplog.handler)
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith('train: ')]
    # one per step, plus the closing line of a run longer than the interval
    assert [ln.split(' (')[0] for ln in progress] == [f'train: {i}/4 iter' for i in (1, 2, 3, 4, 4)]
    assert all(', ETA ' in ln for ln in progress)
    assert [r.getMessage().split('\t')[0] for r in caplog.records if r.getMessage().startswith('Iter [')] == \
        ['Iter [4/4]']  # the log line of the interval


@pytest.mark.parametrize('num_classes', [3, 6])
def test_preflight_refuses_a_head_that_does_not_match_the_data(tiny_config, tmp_path, num_classes):
    from mmseg.datasets.preflight import DatasetCheckError
    with pytest.raises(DatasetCheckError, match=f'model.decode_head.num_classes: {num_classes}, but data.train'):
        _train(tiny_config, tmp_path, **{'model.decode_head.num_classes': num_classes})
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.pth')]  # refused before the first iteration
