import pytest

from mmseg.utils.registry import ConfigKeyError, Registry


@pytest.fixture
def registry():
    reg = Registry('toy')

    @reg.register_module()
    class Conv:
        def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
            self.in_channels, self.out_channels, self.bias = in_channels, out_channels, bias

    @reg.register_module(name='Flexible')
    class AnyKwargs:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    return reg


def test_register_and_build(registry):
    assert 'Conv' in registry and 'Flexible' in registry and len(registry) == 2
    conv = registry.build(dict(type='Conv', in_channels=3, out_channels=8, bias=False))
    assert (conv.in_channels, conv.out_channels, conv.bias) == (3, 8, False)
    assert registry.get('Conv') is type(conv)
    assert registry.get('Missing') is None


def test_build_does_not_modify_cfg(registry):
    cfg = dict(type='Conv', in_channels=3, out_channels=8)
    registry.build(cfg, default_args=dict(bias=False))
    assert cfg == dict(type='Conv', in_channels=3, out_channels=8)


def test_default_args_fill_in_but_do_not_override(registry):
    conv = registry.build(dict(type='Conv', in_channels=3, out_channels=8), default_args=dict(bias=False))
    assert conv.bias is False
    conv = registry.build(dict(type='Conv', in_channels=3, out_channels=8, bias=True), default_args=dict(bias=False))
    assert conv.bias is True


def test_build_with_class_as_type(registry):
    class Local:
        def __init__(self, a):
            self.a = a
    assert registry.build(dict(type=Local, a=5)).a == 5


def test_unknown_type_suggests(registry):
    with pytest.raises(ConfigKeyError, match=r"'Cnov'.*toy.*did you mean 'Conv'"):
        registry.build(dict(type='Cnov', in_channels=3, out_channels=8))
    with pytest.raises(KeyError):  # ConfigKeyError is a KeyError
        registry.build(dict(type='Totally'))


def test_unknown_key_suggests(registry):
    with pytest.raises(ConfigKeyError, match=r"'Conv'.*'in_chanels'.*did you mean 'in_channels'"):
        registry.build(dict(type='Conv', in_chanels=3, out_channels=8))


def test_missing_type(registry):
    with pytest.raises(ConfigKeyError, match='"type"'):
        registry.build(dict(in_channels=3))


def test_kwargs_class_accepts_anything(registry):
    obj = registry.build(dict(type='Flexible', anything=1, other='x'))
    assert obj.kwargs == {'anything': 1, 'other': 'x'}


def test_duplicate_registration_and_force(registry):
    class Conv:  # a different class under a taken name
        pass
    with pytest.raises(KeyError, match='Conv'):
        registry.register_module(module=Conv)
    registry.register_module(module=Conv, force=True)
    assert registry.get('Conv') is Conv
    registry.register_module(module=Conv)  # re-registering the same object is harmless
    assert registry.get('Conv') is Conv


def test_register_function(registry):
    @registry.register_module()
    def make(x):
        return x * 2
    assert registry.build(dict(type='make', x=3)) == 6
    with pytest.raises(ConfigKeyError, match="'y'"):
        registry.build(dict(type='make', y=3))
