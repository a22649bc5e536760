"""Every keyword of the model, datasets, pipelines and hooks is checked against its class before any work."""
import glob
import os.path as osp

import pytest

from mmseg.utils import Config, ConfigKeyError, Registry
from mmseg.utils.config_check import check_config_keys
from mmseg.utils.registry import _accepted_keys
from tests.conftest import load_script

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'local_configs', 'segnext', 'tiny', 'segnext.tiny.demo.py')


def _demo(**options):
    cfg = Config.fromfile(DEMO)
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('options, message', [
    ({'model.decode_head.num_class': 3}, "unknown key 'model.decode_head.num_class' (did you mean 'num_classes'?)"),
    ({'model.backbone.depth': [1, 1, 1, 1]}, "unknown key 'model.backbone.depth' (did you mean 'depths'?)"),
    ({'model.decode_head.loss_decode.use_sigmoidd': False},
     "unknown key 'model.decode_head.loss_decode.use_sigmoidd' (did you mean 'use_sigmoid'?)"),
    ({'model.test_cfgg': dict(mode='whole')}, "unknown key 'model.test_cfgg' (did you mean 'test_cfg'?)"),
    ({'model.decode_head.type': 'LightHamHaed'}, "'model.decode_head.type' = 'LightHamHaed'"),
    ({'data.test.img_dirr': 'x'}, "unknown key 'data.test.img_dirr' (did you mean 'img_dir'?)"),
    ({'data.train.pipeline.1.reduce_zero_labl': True},
     "unknown key 'data.train.pipeline.1.reduce_zero_labl' (did you mean 'reduce_zero_label'?)"),
    ({'data.val.pipeline.1.transforms.0.keep_ration': True}, "'data.val.pipeline.1.transforms.0.keep_ration'"),
    ({'data.train.pipeline.2.type': 'RandomCorp'}, "(did you mean 'RandomCrop'?)"),
    ({'data.train': dict(_delete_=True, type='RepeatDataset', time=2, dataset=dict(type='DemoDataset'))},
     "unknown key 'data.train.time' (did you mean 'times'?)"),
])
def test_a_typo_anywhere_names_its_full_key_and_a_close_match(options, message):
    with pytest.raises(ConfigKeyError) as info:
        check_config_keys(_demo(**options))
    assert message in str(info.value)


def test_every_shipped_config_passes():
    configs = glob.glob(osp.join(ROOT, 'local_configs', 'segnext', '**', '*.py'), recursive=True)
    assert len(configs) >= 29
    for path in configs:
        check_config_keys(Config.fromfile(path))


def test_other_builders_dicts_and_unregistered_hooks_are_left_alone():
    cfg = _demo(**{'model.backbone.norm_cfg': dict(type='SyncBN', requires_grad=True, anything=1),
                   'custom_hooks': [dict(type='MyHookFromCustomImports', priority='LOW')]})
    check_config_keys(cfg)


def test_inherited_keywords_follow_super_init_kwargs():
    reg = Registry('toy')

    class Base:
        def __init__(self, a, b=1):
            pass

    @reg.register_module()
    class Child(Base):
        def __init__(self, c=2, **kwargs):
            kwargs.setdefault('b', 3)
            super().__init__(**kwargs)

    @reg.register_module()
    class Keeps:  # **kwargs kept, not forwarded: anything goes
        def __init__(self, x=0, **extra):
            self.extra = extra

    @reg.register_module()
    class NoInit:
        pass

    assert _accepted_keys(Child) == {'a', 'b', 'c'} and _accepted_keys(Keeps) is None
    assert _accepted_keys(NoInit) == set()
    with pytest.raises(ConfigKeyError, match="'Child' got an unknown key 'bb' \\(did you mean 'b'\\?\\)"):
        reg.build(dict(type='Child', a=1, bb=2))
    with pytest.raises(ConfigKeyError, match="'NoInit' got an unknown key 'x'"):
        reg.build(dict(type='NoInit', x=1))
    assert reg.build(dict(type='Keeps', y=1)).extra == {'y': 1}


def test_train_tool_stops_before_any_work(tmp_path, capsys):
    train = load_script('tools/train.py')
    work = tmp_path / 'work'
    assert train.main([DEMO, '--work-dir', str(work), '--cfg-options', 'model.decode_head.num_class=3']) == 2
    out = capsys.readouterr()
    assert out.err.strip() == ("error: unknown key 'model.decode_head.num_class' (did you mean 'num_classes'?): "
                               'LightHamHead does not accept it')
    assert 'Config:' not in out.out + out.err and not work.exists()  # no config dump, nothing written


def test_test_tool_stops_before_any_work(tmp_path, capsys):
    test = load_script('tools/test.py')
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'not read')
    work = tmp_path / 'work'
    assert test.main([DEMO, str(ckpt), '--eval', 'mIoU', '--work-dir', str(work),
                      '--cfg-options', 'data.test.img_dirr=images']) == 2
    err = capsys.readouterr().err
    assert "error: unknown key 'data.test.img_dirr' (did you mean 'img_dir'?)" in err and 'Traceback' not in err
    assert not work.exists()
