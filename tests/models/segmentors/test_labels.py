"""mmseg.models.segmentors.labels: labels_from_head_logits == argmax of the plain full-resolution upsample chain."""
import pytest
import torch
import torch.nn.functional as F

from mmseg.models.segmentors.labels import labels_from_head_logits, plain_labels


def region_logits(k: int, h: int, w: int, regions: int, seed: int) -> torch.Tensor:
    """Logits of a segmentation-like map: a few smooth class regions plus noise (boundaries are a minority)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, k, 2, 3, generator=g) * 3
    coarse[:, torch.randint(0, k, (regions,), generator=g)] += 6  # a few dominant classes
    smooth = F.interpolate(coarse, size=(h, w), mode='bilinear', align_corners=False)
    return smooth + 0.3 * torch.randn(1, k, h, w, generator=g)


@pytest.mark.parametrize('k,low,mid,out', [
    (150, (16, 16), (128, 128), None),            # whole image at the network size
    (150, (12, 20), (96, 160), (75, 133)),        # rescale to a smaller original
    (19, (9, 13), (72, 104), (300, 420)),         # rescale to a larger original
    (4, (2, 3), (16, 24), (15, 31)),              # tiny maps: the window is clamped
])
def test_equals_plain_chain(k, low, mid, out, monkeypatch):
    from mmseg.models.segmentors import labels as postprocess
    monkeypatch.setattr(postprocess, '_MAX_MIXED', 1.0)  # always the per-pixel path, however many boundaries
    for seed in range(3):
        logits = region_logits(k, *low, regions=3, seed=seed)
        ref = plain_labels(logits, mid, out)
        got = labels_from_head_logits(logits, mid, out)
        assert got.shape == ref.shape
        assert torch.equal(got, ref)


@pytest.mark.parametrize('max_mixed', [0.25, 1.0])
def test_noise_and_batch(max_mixed, monkeypatch):
    from mmseg.models.segmentors import labels as postprocess
    monkeypatch.setattr(postprocess, '_MAX_MIXED', max_mixed)  # 0.25: falls back to the plain chain
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 30, 8, 8, generator=g)  # pure noise: nearly every pixel is a boundary
    assert torch.equal(labels_from_head_logits(logits, (64, 64), (50, 70)), plain_labels(logits, (64, 64), (50, 70)))


def test_uniform_map_takes_the_shortcut():
    logits = torch.zeros(1, 5, 6, 6)
    logits[:, 3] = 1.0
    assert (labels_from_head_logits(logits, (48, 48), (40, 41)) == 3).all()


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match='expected'):
        labels_from_head_logits(torch.zeros(5, 6, 6), (48, 48))
