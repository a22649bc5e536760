import copy

import pytest
import torch
import torch.nn as nn

from mmseg.models import MSCAN, build_segmentor
from mmseg.models.backbones.mscan import Block
from mmseg.models.utils.fusion import FusedBlock, fold_bn_after_conv, fuse_segnext
from tests.conftest import randomize_


@pytest.fixture
def model(tiny_cfg):
    return randomize_(build_segmentor(tiny_cfg)).eval()


@pytest.mark.parametrize('channels_last', [False, True])
def test_fused_segmentor_matches_unfused(model, channels_last):
    img = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ref = model.encode_decode(img)
    fused = fuse_segnext(copy.deepcopy(model), channels_last=channels_last)
    assert fused.backbone.channels_last is channels_last
    with torch.inference_mode():
        out = fused.encode_decode(img)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() <= 1e-4 * max(1.0, ref.abs().max().item())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.backbone.modules())
    assert not any(p.requires_grad for p in fused.parameters())


def test_fused_block_folds_bn_layer_scale_and_inner_shortcut():
    block = Block(16, 4, 0.0, 0.0, dict(type='BN'))
    randomize_(block, seed=3).eval()
    x = torch.randn(2, 16, 9, 11)
    with torch.no_grad():
        ref = block(x)
        out = FusedBlock(block)(x.clone())
    # the attention's inner shortcut adds BN1(x), not x: a wrong fold would be off by O(ls1 * |x|)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


def test_fold_bn_after_conv_equals_conv_then_bn():
    conv, bn = nn.Conv2d(4, 6, 3, 2, 1), nn.BatchNorm2d(6)
    randomize_(nn.Sequential(conv, bn), seed=1).eval()
    x = torch.randn(1, 4, 10, 10)
    with torch.no_grad():
        assert torch.allclose(fold_bn_after_conv(conv, bn)(x), bn(conv(x)), atol=1e-5)


def test_fused_model_is_inference_only_and_fuse_is_idempotent(model):
    fused = model.fuse()
    assert fused.backbone.channels_last is True  # the CPU default of fuse()
    assert fuse_segnext(fused) is fused
    with pytest.raises(RuntimeError, match='fuse_segnext'):
        fused.train()
    fused.eval()  # still allowed


def test_fuse_accepts_a_bare_backbone_and_rejects_other_models():
    backbone = randomize_(MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='BN')))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = backbone.eval()(x)
        out = fuse_segnext(copy.deepcopy(backbone))(x)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(out, ref))
    with pytest.raises(TypeError, match='MSCAN'):
        fuse_segnext(nn.Conv2d(3, 3, 1))
