import argparse
import copy
import pickle
import textwrap
from pathlib import Path

import pytest

from mmseg.utils.config import Config, ConfigDict, ConfigError, DictAction
from mmseg.utils.registry import ConfigKeyError, Registry


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def tree(tmp_path):
    """configs/_base_/{model,data}.py and configs/exp/child.py inheriting both."""
    write(tmp_path / 'configs/_base_/model.py', """
        norm_cfg = dict(type='SyncBN', requires_grad=True)
        model = dict(
            type='EncoderDecoder',
            backbone=dict(type='MSCAN', embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2], norm_cfg=norm_cfg),
            decode_head=dict(type='LightHamHead', channels=256,
                             loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
            test_cfg=dict(mode='whole'))
        """)
    write(tmp_path / 'configs/_base_/data.py', """
        import os
        crop_size = (512, 512)
        train_pipeline = [dict(type='LoadImageFromFile'),
                          dict(type='Resize', img_scale=(2048, 512), ratio_range=(0.5, 2.0))]
        data = dict(samples_per_gpu=8, train=dict(type='ADE20KDataset', pipeline=train_pipeline))
        def helper():
            return 1
        class Helper:
            pass
        __private = 3
        """)
    child = write(tmp_path / 'configs/exp/child.py', """
        _base_ = ['../_base_/model.py', '../_base_/data.py']
        model = dict(
            backbone=dict(depths=[2, 2, 4, 2], drop_path_rate=0.1),
            decode_head=dict(loss_decode=dict(_delete_=True, type='FocalLoss')),
            test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
        data = dict(samples_per_gpu=2)
        optimizer = dict(type='AdamW', lr=6e-05, betas=(0.9, 0.999))
        """)
    return tmp_path, child


# ------------------------------------------------------------------------------------------ ConfigDict


def test_configdict_attribute_access_and_nested_conversion():
    d = ConfigDict(a=dict(b=1), lst=[dict(c=2), 3], tup=(dict(d=4),))
    assert d.a.b == 1 and d.lst[0].c == 2 and d.tup[0].d == 4
    assert isinstance(d.tup, tuple) and isinstance(d.lst[0], ConfigDict)
    d.e = dict(f=5)
    assert isinstance(d['e'], ConfigDict) and d.e.f == 5
    d['g'] = [dict(h=6)]
    assert d.g[0].h == 6


def test_configdict_missing_attribute():
    d = ConfigDict(a=1)
    with pytest.raises(AttributeError, match="'missing'"):
        _ = d.missing
    with pytest.raises(ConfigError):
        _ = d.missing
    assert not hasattr(d, 'missing') and hasattr(d, 'a')
    assert getattr(d, 'missing', 'default') == 'default'


def test_configdict_pickle_and_deepcopy():
    d = ConfigDict(a=dict(b=[1, dict(c=(2, 3))]))
    for out in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
        assert out == d and type(out) is ConfigDict and type(out.a) is ConfigDict
        assert out.a.b[1].c == (2, 3)
    deep = copy.deepcopy(d)
    deep.a.b[1].c = 9
    assert d.a.b[1].c == (2, 3)
    assert type(d.to_dict()['a']) is dict and type(d.to_dict()['a']['b'][1]) is dict


# ------------------------------------------------------------------------------------------ fromfile


def test_fromfile_inheritance_and_merge(tree):
    _, child = tree
    cfg = Config.fromfile(str(child))
    assert cfg.filename == str(child)
    # deep merge keeps base keys and overrides/adds child keys
    assert cfg.model.type == 'EncoderDecoder'
    assert cfg.model.backbone.type == 'MSCAN'
    assert cfg.model.backbone.embed_dims == [32, 64, 160, 256]
    assert cfg.model.backbone.depths == [2, 2, 4, 2]  # list replaced, not merged
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.model.decode_head.channels == 256
    # _delete_ replaces the whole base dict and disappears
    assert cfg.model.decode_head.loss_decode == {'type': 'FocalLoss'}
    assert cfg.model.test_cfg == {'mode': 'slide', 'crop_size': (512, 512), 'stride': (341, 341)}
    assert cfg.data.samples_per_gpu == 2 and cfg.data.train.type == 'ADE20KDataset'
    assert cfg.data.train.pipeline[1].img_scale == (2048, 512)
    assert cfg.crop_size == (512, 512) and cfg.optimizer.lr == 6e-05
    # modules, functions, classes and dunder names are dropped; _base_ is consumed
    for dropped in ('os', 'helper', 'Helper', '__private', '_base_', '__file__', '__builtins__'):
        assert dropped not in cfg
    # text holds every file read, bases first
    assert cfg.text.index("type='MSCAN'") < cfg.text.index("type='ADE20KDataset'") < cfg.text.index('FocalLoss')


def test_fromfile_base_as_str(tmp_path):
    write(tmp_path / 'base.py', 'a = dict(x=1, y=dict(z=2))\nb = 1\n')
    child = write(tmp_path / 'child.py', "_base_ = './base.py'\na = dict(y=dict(w=3))\nc = None\n")
    cfg = Config.fromfile(child)
    assert cfg.to_dict() == {'a': {'x': 1, 'y': {'z': 2, 'w': 3}}, 'b': 1, 'c': None}
    assert type(cfg.to_dict()['a']) is dict


def test_dict_access_protocol(tree):
    cfg = Config.fromfile(tree[1])
    assert cfg['model']['backbone']['type'] == 'MSCAN'
    assert cfg.get('model').type == 'EncoderDecoder' and cfg.get('nope', 7) == 7
    assert 'optimizer' in cfg and 'nope' not in cfg
    assert list(cfg) == list(cfg.keys()) and len(cfg) == len(list(cfg))
    assert set(cfg) == {'norm_cfg', 'model', 'crop_size', 'train_pipeline', 'data', 'optimizer'}
    cfg.work_dir = '/tmp/x'
    cfg['seed'] = 0
    assert cfg.to_dict()['work_dir'] == '/tmp/x' and cfg.seed == 0
    with pytest.raises(AttributeError, match="'nope'"):
        _ = cfg.nope
    assert not hasattr(cfg, 'nope')
    with pytest.raises(AttributeError, match="'nope'"):
        _ = cfg.model.backbone.nope


def test_config_pickle_and_deepcopy(tree):
    cfg = Config.fromfile(tree[1])
    for out in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg)):
        assert isinstance(out, Config)
        assert out.to_dict() == cfg.to_dict()
        assert out.filename == cfg.filename and out.text == cfg.text
    clone = copy.deepcopy(cfg)
    clone.model.backbone.depths[0] = 99
    assert cfg.model.backbone.depths[0] == 2


def test_dict_over_scalar_base_needs_delete(tmp_path):
    write(tmp_path / 'base.py', 'a = dict(b=None)\n')
    child = write(tmp_path / 'child.py', "_base_ = 'base.py'\na = dict(b=dict(c=1))\n")
    with pytest.raises(ConfigError, match=r"child\.py.*'a\.b'.*_delete_"):
        Config.fromfile(child)
    write(tmp_path / 'child.py', "_base_ = 'base.py'\na = dict(b=dict(_delete_=True, c=1))\n")
    assert Config.fromfile(child).a.b == {'c': 1}


# ------------------------------------------------------------------------------------------ errors


def test_missing_config(tmp_path):
    missing = tmp_path / 'nope.py'
    with pytest.raises(ConfigError, match='nope.py'):
        Config.fromfile(missing)
    with pytest.raises(FileNotFoundError):
        Config.fromfile(missing)


def test_missing_base_names_both_files(tmp_path):
    child = write(tmp_path / 'sub/child.py', "_base_ = ['../_base_/absent.py']\n")
    with pytest.raises(FileNotFoundError) as info:
        Config.fromfile(child)
    msg = str(info.value)
    assert str(child) in msg and '../_base_/absent.py' in msg
    assert isinstance(info.value, ConfigError)


def test_duplicate_key_among_bases(tmp_path):
    a = write(tmp_path / 'a.py', 'model = dict(x=1)\nshared = 1\n')
    b = write(tmp_path / 'b.py', 'shared = 2\n')
    child = write(tmp_path / 'child.py', "_base_ = ['a.py', 'b.py']\n")
    with pytest.raises(ConfigError, match="'shared'") as info:
        Config.fromfile(child)
    assert str(a) in str(info.value) and str(b) in str(info.value)


def test_cycle_detection(tmp_path):
    a = write(tmp_path / 'a.py', "_base_ = 'b.py'\nx = 1\n")
    b = write(tmp_path / 'b.py', "_base_ = 'a.py'\ny = 1\n")
    with pytest.raises(ConfigError, match='cyclic') as info:
        Config.fromfile(a)
    assert f'{a} -> {b} -> {a}' in str(info.value)
    self_ref = write(tmp_path / 'self.py', "_base_ = 'self.py'\n")
    with pytest.raises(ConfigError, match='cyclic'):
        Config.fromfile(self_ref)


def test_syntax_error_names_file_and_line(tmp_path):
    write(tmp_path / 'base.py', 'a = 1\nb = dict(x=1,\nc = 3\n')
    child = write(tmp_path / 'child.py', "_base_ = 'base.py'\n")
    with pytest.raises(ConfigError, match=r'base\.py, line \d+') as info:
        Config.fromfile(child)
    assert str(tmp_path / 'base.py') in str(info.value)


def test_runtime_error_names_file(tmp_path):
    bad = write(tmp_path / 'bad.py', 'a = undefined_name + 1\n')
    with pytest.raises(ConfigError, match=r'bad\.py.*undefined_name'):
        Config.fromfile(bad)


def test_reserved_key(tmp_path):
    bad = write(tmp_path / 'bad.py', "filename = 'x'\n")
    with pytest.raises(ConfigError, match="reserved key 'filename'"):
        Config.fromfile(bad)


# ------------------------------------------------------------------------------------------ merge_from_dict


def test_merge_from_dict(tree):
    cfg = Config.fromfile(tree[1])
    cfg.merge_from_dict({
        'model.backbone.depths': [1, 1, 1, 1],
        'data.samples_per_gpu': 4,
        'model.new_key.nested': 'x',  # missing dicts are created
        'data.train.pipeline.1.img_scale': (1024, 256),  # integer component indexes the list
        'model.test_cfg': dict(mode='whole'),  # dict values merge into dicts
        'seed': 3,
    })
    assert cfg.model.backbone.depths == [1, 1, 1, 1]
    assert cfg.model.backbone.embed_dims == [32, 64, 160, 256]
    assert cfg.data.samples_per_gpu == 4 and cfg.seed == 3
    assert cfg.model.new_key == {'nested': 'x'} and isinstance(cfg.model.new_key, ConfigDict)
    assert cfg.data.train.pipeline[1].img_scale == (1024, 256)
    assert cfg.data.train.pipeline[1].ratio_range == (0.5, 2.0)
    assert cfg.model.test_cfg == {'mode': 'whole', 'crop_size': (512, 512), 'stride': (341, 341)}


def test_merge_from_dict_errors_leave_config_unchanged(tree):
    cfg = Config.fromfile(tree[1])
    before = cfg.to_dict()
    with pytest.raises(ConfigError, match=r'index 5 is out of range.*data\.train\.pipeline.*length 2'):
        cfg.merge_from_dict({'seed': 1, 'data.train.pipeline.5.img_scale': (1, 1)})
    with pytest.raises(ConfigError, match=r"'data\.train\.pipeline\.first'"):
        cfg.merge_from_dict({'data.train.pipeline.first': 1})
    with pytest.raises(ConfigError, match=r"'data\.samples_per_gpu\.x'.*int"):
        cfg.merge_from_dict({'data.samples_per_gpu.x': 1})
    assert cfg.to_dict() == before


# ------------------------------------------------------------------------------------------ DictAction


def parse(*items):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *items]).cfg_options


@pytest.mark.parametrize('text, expected', [
    ('1', 1), ('-3', -3), ('0.5', 0.5), ('6e-05', 6e-05), ('True', True), ('False', False), ('true', True),
    ('None', None), ('abc', 'abc'), ('SyncBN', 'SyncBN'), ('', ''),
    ('[1,2]', [1, 2]), ('a,b', ['a', 'b']), ('1,2.5,x', [1, 2.5, 'x']), ('[]', []), ('1,', [1]),
    ('(1,2)', (1, 2)), ('(1,)', (1,)), ('()', ()),
    ('[(1,2),(3,4)]', [(1, 2), (3, 4)]), ('[1,[2,(3,None)],c]', [1, [2, (3, None)], 'c']),
    ('[1,2],[3,4]', [[1, 2], [3, 4]]), ('[ 1 , 2 ]', [1, 2]),
    ('"1"', '1'), ("'a,b'", 'a,b'), ('"[1,2]"', '[1,2]'), ('"x",\'y\'', ['x', 'y']), ("it's", "it's"),
])
def test_dict_action_values(text, expected):
    out = parse(f'k={text}')
    assert out == {'k': expected}
    assert type(out['k']) is type(expected)
    if isinstance(expected, (list, tuple)):
        assert [type(x) for x in out['k']] == [type(x) for x in expected]


def test_dict_action_several_pairs_and_equals_in_value():
    out = parse('model.backbone.depths=[1,1,1,1]', 'data.samples_per_gpu=2', 'work_dir=a=b')
    assert out == {'model.backbone.depths': [1, 1, 1, 1], 'data.samples_per_gpu': 2, 'work_dir': 'a=b'}


@pytest.mark.parametrize('bad', ['noequals', 'k=[1,2', 'k=(1,2]'])
def test_dict_action_bad_input(bad, capsys):
    with pytest.raises(SystemExit):
        parse(bad)
    assert bad.split('=')[0] in capsys.readouterr().err


def test_dict_action_feeds_merge_from_dict(tree):
    cfg = Config.fromfile(tree[1])
    cfg.merge_from_dict(parse('model.backbone.depths=[1,1,1,1]', 'data.train.pipeline.1.img_scale=(64,32)'))
    assert cfg.model.backbone.depths == [1, 1, 1, 1]
    assert cfg.data.train.pipeline[1].img_scale == (64, 32)


# ------------------------------------------------------------------------------------------ dump


def test_dump_round_trip(tree, tmp_path):
    cfg = Config.fromfile(tree[1])
    cfg.merge_from_dict({
        'quotes': 'it\'s a "test"', 'flags': [True, False, None], 'floats': [6e-05, 1e-8, 0.1, float('inf')],
        'one_tuple': (1,), 'empty': dict(), 'nested': [dict(a=(1, [2, dict(b=None)])), ()],
        'odd_keys': {'not-an-identifier': 1, 'class': 2, 3: 'int key'},
        'long': [dict(type='Resize', img_scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True)] * 3,
    })
    out = tmp_path / 'dumped.py'
    cfg.dump(str(out))
    assert out.read_text() == cfg.pretty_text
    again = Config.fromfile(out)
    assert again.to_dict() == cfg.to_dict()
    # equality of dicts does not see tuple vs list; check the types survived
    assert type(again.one_tuple) is tuple and type(again.crop_size) is tuple
    assert type(again.nested[0].a) is tuple and type(again.nested[0].a[1]) is list
    assert type(again.nested[1]) is tuple
    assert again.quotes == 'it\'s a "test"'


def test_dump_rejects_non_literal_values(tmp_path):
    cfg = Config(dict(a=dict(b=object())))
    out = tmp_path / 'x.py'
    out.write_text('keep = 1\n')
    with pytest.raises(ConfigError, match=r"'a\.b'"):
        cfg.dump(str(out))
    assert out.read_text() == 'keep = 1\n'  # nothing written on failure


# ------------------------------------------------------------------------------------------ registry typo


def test_typo_in_config_key_caught_when_building(tmp_path):
    registry = Registry('toy')

    @registry.register_module()
    class Toy:
        def __init__(self, embed_dims: int, drop_path_rate: float = 0.0):
            self.embed_dims = embed_dims

    good = write(tmp_path / 'good.py', "model = dict(type='Toy', embed_dims=4)\n")
    assert registry.build(Config.fromfile(good).model).embed_dims == 4
    bad = write(tmp_path / 'bad.py', "model = dict(type='Toy', embed_dims=4, drop_path_rte=0.1)\n")
    with pytest.raises(ConfigKeyError, match=r"'drop_path_rte'.*'drop_path_rate'"):
        registry.build(Config.fromfile(bad).model)


def test_dump_with_top_level_key_named_dict(tmp_path):
    # a variable ``dict`` shadows the builtin in the dumped file, so the ``dict(...)`` form must not be used
    cfg = Config({'dict': 1, 'a': {'b': {'c': 2}}})
    out = tmp_path / 'x.py'
    cfg.dump(str(out))
    assert Config.fromfile(out).to_dict() == {'dict': 1, 'a': {'b': {'c': 2}}}
