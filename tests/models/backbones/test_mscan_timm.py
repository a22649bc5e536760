import timm
import torch

import mmseg.models  # noqa: F401  (registers mscan_* with timm)
from mmseg.models import build_segmentor
from tests.conftest import randomize_, segnext_cfg


def test_timm_classifier_layout_and_params():
    model = timm.create_model('mscan_t', num_classes=1000)
    assert model.head.weight.shape == (1000, 256)
    # Spec §1.8: backbone + 1000-way Linear on C4 = 4.16 M for T.
    assert sum(p.numel() for p in model.parameters()) == 3_903_584 + 257_000
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    assert 'mscan_l' in timm.list_models('mscan*')


def test_timm_features_only_returns_four_maps():
    model = timm.create_model('mscan_t', features_only=True, depths=[1, 1, 1, 1]).eval()
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [32, 64, 160, 256]
    assert model.feature_info.reduction() == [4, 8, 16, 32]


def test_timm_pretrained_from_local_segmentation_checkpoint(tmp_path):
    seg = randomize_(build_segmentor(segnext_cfg('t', num_classes=5, depths=[1, 1, 1, 1])))
    torch.save({'state_dict': seg.state_dict()}, tmp_path / 'seg.pth')
    model = timm.create_model('mscan_t', pretrained=True, num_classes=0, depths=[1, 1, 1, 1],
                              pretrained_cfg_overlay=dict(file=str(tmp_path / 'seg.pth')))
    seg.eval(), model.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.forward_features(x), seg.backbone(x)[-1])
