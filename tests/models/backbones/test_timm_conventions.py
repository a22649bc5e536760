"""timm's model conventions for mscan_{t,s,b,l} (our own tests, after the cases of timm's tests/test_models.py):
forward, backward, default_cfg, FX forward/backward (and FX + TorchScript), TorchScript, and ``features_only`` with
the default, hook and FX feature classes, at 64×64 inputs.

The fast lane runs every check on one-block-per-stage models of the two width sets (T's, and S/B/L's: those three
differ only in depth); the full T, S, B and L run in the slow lane."""
import pytest
import timm
import torch
from timm.layers import get_graph_node_names, get_notrace_functions, get_notrace_modules
from torchvision.models.feature_extraction import create_feature_extractor

import mmseg.models  # noqa: F401  (registers mscan_* with timm)
from mmseg.models.backbones.mscan import MSCAN

SLOW = pytest.mark.slow
VARIANTS = ['mscan_t:shallow', 'mscan_s:shallow'] + [pytest.param(v, marks=SLOW) for v in
                                                       ('mscan_t', 'mscan_s', 'mscan_b', 'mscan_l')]
SIZE = 64


def _create(name: str, **kwargs) -> torch.nn.Module:
    """``mscan_x`` as registered, or ``mscan_x:shallow`` with one block per stage."""
    if name.endswith(':shallow'):
        return timm.create_model(name.split(':')[0], depths=[1, 1, 1, 1], **kwargs)
    return timm.create_model(name, **kwargs)


def _input(batch: int = 1, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _fx_model(model: torch.nn.Module) -> torch.nn.Module:
    """The whole model as an FX GraphModule returning its last node (as timm's tests build it)."""
    train_nodes, eval_nodes = get_graph_node_names(model)
    tracer_kwargs = dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions())
    return create_feature_extractor(model, train_return_nodes=[train_nodes[-1]], eval_return_nodes=[eval_nodes[-1]],
                                    tracer_kwargs=tracer_kwargs)


def _only(out: dict) -> torch.Tensor:
    (value,) = out.values()
    return value


@pytest.mark.parametrize('name', VARIANTS)
def test_forward(name):
    model = _create(name).eval()
    with torch.no_grad():
        out = model(_input())
        assert out.shape == (1, 1000) and not torch.isnan(out).any()
        assert torch.equal(out, model.forward_head(model.forward_features(_input())))


@pytest.mark.parametrize('name', VARIANTS)
def test_backward(name):
    model = _create(name, num_classes=42).train()
    out = model(_input(2))
    out.mean().backward()
    assert out.shape == (2, 42)
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f'no gradient for {missing[:5]}'


@pytest.mark.parametrize('name', VARIANTS)
def test_default_cfg(name):
    model = _create(name).eval()
    cfg = model.pretrained_cfg
    state = model.state_dict()
    assert cfg['first_conv'] + '.weight' in state and cfg['classifier'] + '.weight' in state
    assert cfg['input_size'] == (3, 224, 224) and cfg['num_classes'] == 1000
    # pool_size is the stage-4 map of input_size (stride 32); checked at 64×64 with the same stride
    assert tuple(cfg['pool_size']) == (224 // 32, 224 // 32)
    assert model.feature_info[-1]['reduction'] == 32
    x = _input()
    with torch.no_grad():
        assert model.forward_features(x).shape == (1, model.num_features, SIZE // 32, SIZE // 32)
        model.reset_classifier(0)
        assert model(x).shape == (1, model.num_features)
        model.reset_classifier(0, '')  # no pooling either: the unpooled map
        assert model(x).shape == (1, model.num_features, SIZE // 32, SIZE // 32)


@pytest.mark.parametrize('name', VARIANTS)
def test_forward_fx_equals_eager(name):
    model = _create(name).eval()
    fx_model = _fx_model(model)
    with torch.no_grad():
        assert torch.equal(_only(fx_model(_input())), model(_input()))


@pytest.mark.parametrize('name', VARIANTS)
def test_backward_fx(name):
    model = _create(name, num_classes=42).train()
    fx_model = _fx_model(model)
    torch.manual_seed(0)  # drop path draws: same seed, same masks
    out = _only(fx_model(_input(2)))
    out.mean().backward()
    assert out.shape == (2, 42)
    assert all(p.grad is not None for p in fx_model.parameters())
    grads_fx = [p.grad.clone() for p in model.parameters()]  # the GraphModule shares the model's parameters
    model.zero_grad()
    torch.manual_seed(0)
    model(_input(2)).mean().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(grads_fx, model.parameters()))


@pytest.mark.parametrize('name', VARIANTS)
def test_forward_torchscript(name):
    model = _create(name).eval()
    scripted = torch.jit.script(model)
    with torch.no_grad():
        assert torch.equal(scripted(_input()), model(_input()))


@pytest.mark.parametrize('name', VARIANTS)
def test_forward_fx_torchscript(name):
    model = _create(name).eval()
    scripted = torch.jit.script(_fx_model(model))
    with torch.no_grad():
        assert torch.equal(_only(scripted(_input())), model(_input()))


@pytest.mark.parametrize('feature_cls', [None, 'hook', 'fx'])
@pytest.mark.parametrize('name', VARIANTS)
def test_features_only(name, feature_cls):
    kwargs = {} if feature_cls is None else dict(feature_cls=feature_cls)
    model = _create(name, features_only=True, **kwargs).eval()
    plain = _create(name, num_classes=0).eval()
    # the wrappers hold the model as `model.` (getter), `body.` (hook) or `graph_module.` (fx)
    weights = {k.split('.', 1)[1]: v for k, v in model.state_dict().items()}
    plain.load_state_dict({k: v for k, v in weights.items() if not k.startswith('head.')})
    x = _input()
    with torch.no_grad():
        feats = model(x)
        expected = plain.forward_intermediates(x, intermediates_only=True)
    assert model.feature_info.channels() == list(plain.embed_dims)
    assert model.feature_info.reduction() == [4, 8, 16, 32]
    assert len(feats) == 4
    for f, e, r in zip(feats, expected, model.feature_info.reduction()):
        assert f.shape == (1, e.shape[1], SIZE // r, SIZE // r)
        assert torch.equal(f, e)


def test_feature_info_names_modules_that_run():
    model = _create('mscan_t:shallow').eval()
    seen = []
    names = [info['module'] for info in model.feature_info]
    modules = dict(model.named_modules())
    for n in names:
        modules[n].register_forward_hook(lambda m, i, o, n=n: seen.append(n))
    with torch.no_grad():
        model(_input())
    assert seen == names == ['norm1', 'norm2', 'norm3', 'norm4']


@pytest.mark.parametrize('channels_last', [False, True, None])
def test_segmentation_backbone_traces_and_scripts(channels_last):
    """Plain ``torch.fx.symbolic_trace`` and ``torch.jit.script`` of the MSCAN the segmentors use, in each layout
    mode: same numbers as eager, and the channels-last path still returns NHWC maps."""
    model = MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 2, 1], norm_cfg=dict(type='BN'),
                  channels_last=channels_last).eval()
    x = _input()
    traced = torch.fx.symbolic_trace(model)
    scripted = torch.jit.script(model)
    with torch.no_grad():
        eager = model(x)
        for other in (traced(x), scripted(x)):
            assert len(other) == 4
            for a, b in zip(other, eager):
                assert torch.equal(a, b)
                assert a.stride() == b.stride()
    nhwc = channels_last is not False  # None: NHWC on CPU inputs
    assert all(t.is_contiguous(memory_format=torch.channels_last) == nhwc for t in eager[:3])
