"""Param-wise optimizer groups: mmcv-1.x custom_keys semantics on the real ADE20K SegNeXt-T model (spec §5.1)."""
import pytest
import torch
import torch.nn as nn

from mmseg.engine import build_optimizer, describe_param_groups
from mmseg.utils import ConfigKeyError

SEGNEXT_OPTIMIZER = dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01,
                         paramwise_cfg=dict(custom_keys={'pos_block': dict(decay_mult=0.),
                                                         'norm': dict(decay_mult=0.),
                                                         'head': dict(lr_mult=10.)}))


def segnext_tiny_ade():
    from mmseg.models import build_segmentor
    return build_segmentor(dict(
        type='EncoderDecoder',
        backbone=dict(type='MSCAN', embed_dims=[32, 64, 160, 256], mlp_ratios=[8, 8, 4, 4], depths=[3, 3, 5, 2],
                      drop_path_rate=0.1, norm_cfg=dict(type='SyncBN', requires_grad=True)),
        decode_head=dict(type='LightHamHead', in_channels=[64, 160, 256], in_index=[1, 2, 3], channels=256,
                         ham_channels=256, dropout_ratio=0.1, num_classes=150,
                         norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole')))


def test_segnext_tiny_groups_tensor_by_tensor():
    model = segnext_tiny_ade()
    opt = build_optimizer(model, SEGNEXT_OPTIMIZER)
    rows = describe_param_groups(opt, model)
    names = [n for n, _ in model.named_parameters()]
    assert sorted(r[0] for r in rows) == sorted(names)  # every tensor exactly once
    for name, lr, wd in rows:
        if name.startswith('decode_head.'):
            expected = (6e-4, 0.01)  # 'head' matches first, GN and biases included
        elif 'norm' in name:
            expected = (6e-5, 0.)
        else:
            expected = (6e-5, 0.01)
        assert (lr, wd) == pytest.approx(expected, rel=1e-12, abs=0), name
    table = {n: (lr, wd) for n, lr, wd in rows}
    # the spec's named consequences
    for stem_bn in ('backbone.patch_embed1.proj.1.weight', 'backbone.patch_embed1.proj.4.bias'):
        assert table[stem_bn] == pytest.approx((6e-5, 0.01))
    assert table['backbone.block1.0.layer_scale_1'] == pytest.approx((6e-5, 0.01))
    assert table['backbone.block1.0.norm1.weight'] == pytest.approx((6e-5, 0.))
    assert table['backbone.patch_embed2.norm.weight'] == pytest.approx((6e-5, 0.))
    assert table['backbone.norm4.weight'] == pytest.approx((6e-5, 0.))
    gn = [n for n in table if n.startswith('decode_head.') and '.gn.' in n]
    assert gn and all(table[n] == pytest.approx((6e-4, 0.01)) for n in gn)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults['betas'] == (0.9, 0.999)


class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.head_norm = nn.LayerNorm(2)   # matches 'head' and 'norm' (same length: alphabetical → 'head')
        self.abc = nn.Linear(2, 2)         # matches 'ab' and 'abc' (longer first → 'abc')
        self.other = nn.Linear(2, 2)


def test_key_order_length_then_alphabetical():
    cfg = dict(type='SGD', lr=1.0, weight_decay=1.0,
               paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.), 'head': dict(lr_mult=3.),
                                               'ab': dict(lr_mult=5.), 'abc': dict(lr_mult=7.)}))
    model = _Toy()
    table = {n: (lr, wd) for n, lr, wd in describe_param_groups(build_optimizer(model, cfg), model)}
    assert table['head_norm.weight'] == (3.0, 1.0)
    assert table['abc.weight'] == (7.0, 1.0)
    assert table['other.bias'] == (1.0, 1.0)


def test_bad_optimizer_config_names_the_key():
    with pytest.raises(ConfigKeyError, match='AdamX'):
        build_optimizer(_Toy(), dict(type='AdamX', lr=1.))
    with pytest.raises(ConfigKeyError, match='custom_key'):
        build_optimizer(_Toy(), dict(type='SGD', lr=1., paramwise_cfg=dict(custom_key={})))
