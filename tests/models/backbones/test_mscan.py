import pytest
import torch

from mmseg.models import MSCAN, build_segmentor
from tests.conftest import VARIANTS, segnext_cfg

# Spec §1.8 (backbone), §2.6 (head) and §2.7: exact parameter counts and state-dict sizes.
BACKBONE_PARAMS = {'t': 3_903_584, 's': 13_450_176, 'b': 26_277_824, 'l': 44_636_864}
BACKBONE_ENTRIES = {'t': 537, 's': 423, 'b': 841, 'l': 1_487}
HEAD_PARAMS = {
    150: {'t': 359_830, 's': 482_710, 'b': 1_358_486, 'l': 4_289_686},
    19: {'t': 326_163, 's': 449_043, 'b': 1_291_283, 'l': 4_155_411},
    171: {'t': 365_227, 's': 488_107, 'b': 1_369_259, 'l': 4_311_211},
}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_parameter_counts_match_spec(variant):
    for num_classes, expected in HEAD_PARAMS.items():
        model = build_segmentor(segnext_cfg(variant, num_classes))
        assert n_params(model.backbone) == BACKBONE_PARAMS[variant]
        assert len(model.backbone.state_dict()) == BACKBONE_ENTRIES[variant]
        assert n_params(model.decode_head) == expected[variant]


@pytest.mark.parametrize('size,expected', [
    ((512, 512), [(128, 128), (64, 64), (32, 32), (16, 16)]),
    ((256, 320), [(64, 80), (32, 40), (16, 20), (8, 10)]),
    ((67, 93), [(17, 24), (9, 12), (5, 6), (3, 3)]),  # odd: every stride-2 conv gives ceil(n / 2)
])
def test_output_strides_and_channels(size, expected):
    dims = VARIANTS['t'][0]
    model = MSCAN(embed_dims=dims, depths=[1, 1, 1, 1], norm_cfg=dict(type='BN')).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [tuple(o.shape[2:]) for o in outs] == expected
    assert [o.shape[1] for o in outs] == dims
    assert [f['reduction'] for f in model.feature_info] == [4, 8, 16, 32]


def test_stage_layernorm_is_on_main_path_with_eps_1e5():
    model = MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='BN')).eval()
    assert all(getattr(model, f'norm{i}').eps == 1e-5 for i in range(1, 5))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        base = model(x)
        model.norm1.weight.mul_(2.0)  # stage-1 LN feeds stage 2: changing it must change every later map
        changed = model(x)
    assert all(not torch.allclose(a, b) for a, b in zip(base, changed))
    # Per-pixel LayerNorm over channels: each output pixel has zero mean / unit variance before the affine.
    with torch.no_grad():
        model.norm1.weight.fill_(1.0)
        model.norm1.bias.zero_()
        out = model(x)[0]
    assert torch.allclose(out.mean(1), torch.zeros(1), atol=1e-5)


def test_drop_path_schedule_and_training_randomness():
    model = MSCAN(embed_dims=[32, 64, 160, 256], depths=[3, 3, 5, 2], drop_path_rate=0.1, norm_cfg=dict(type='BN'))
    blocks = [b for i in range(1, 5) for b in getattr(model, f'block{i}')]
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for b in blocks]
    assert rates == pytest.approx([0.1 * k / 12 for k in range(13)])
    assert isinstance(blocks[0].drop_path, torch.nn.Identity)


def test_from_scratch_init_follows_spec():
    torch.manual_seed(0)
    model = MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='BN'))
    model.init_weights()
    conv = model.block4[0].mlp.fc1  # 1x1, out 1024: std = sqrt(2 / 1024)
    assert conv.weight.std().item() == pytest.approx((2 / 1024) ** 0.5, rel=0.05)
    assert conv.bias.abs().max().item() == 0
    dw = model.block4[0].attn.spatial_gating_unit.conv2_1  # 1x21 depthwise: fan_out = 21
    assert dw.weight.std().item() == pytest.approx((2 / 21) ** 0.5, rel=0.1)
    assert torch.all(model.block1[0].layer_scale_1 == 1e-2)
    assert torch.all(model.norm2.weight == 1) and torch.all(model.norm2.bias == 0)


def test_bad_variant_arguments_raise():
    with pytest.raises(ValueError, match='4 stages'):
        MSCAN(embed_dims=[32, 64, 160], depths=[1, 1, 1], mlp_ratios=[8, 8, 4])


def test_syncbn_config_builds_syncbn():
    model = MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='SyncBN'))
    assert isinstance(model.block1[0].norm1, torch.nn.SyncBatchNorm)
    assert isinstance(model.patch_embed1.proj[1], torch.nn.SyncBatchNorm)
