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


def test_candidates_keep_a_class_that_wins_only_between_cells():
    """Class 1 is the argmax of no cell, yet of the midpoint between them: it must stay a candidate; class 2
    never reaches the winner's smallest logit and is dropped."""
    from mmseg.models.segmentors.labels import candidate_classes
    logits = torch.tensor([[5.0, 0.0], [4.0, 4.0], [-9.0, -9.0], [0.0, 5.0]]).view(1, 4, 1, 2)
    assert candidate_classes(logits, 2).tolist() == [0, 1, 3]
    labels = labels_from_head_logits(logits, (1, 16))
    assert 1 in labels.unique().tolist()
    assert torch.equal(labels, plain_labels(logits, (1, 16)))
    assert candidate_classes(torch.zeros(1, 3, 2, 2), 2) is None  # all tie everywhere: every class can win


@pytest.mark.parametrize('out', [None, (90, 70)])
def test_few_winning_classes_among_many(out):
    """Most of 150 classes are dominated everywhere (the labels module drops them first); the labels equal the
    plain chain over all classes, with and without a rescale."""
    from mmseg.models.segmentors.labels import candidate_classes
    logits = region_logits(150, 12, 12, regions=4, seed=1) - 20
    logits[:, :6] += 20 + torch.randn(1, 6, 12, 12, generator=torch.Generator().manual_seed(2))  # noisy winners
    kept = candidate_classes(logits, 2)
    assert kept is not None and kept.numel() < 20
    assert torch.equal(labels_from_head_logits(logits, (96, 96), out), plain_labels(logits, (96, 96), out))
