import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmseg.models import build_segmentor
from tests.conftest import randomize_


@pytest.fixture
def model(tiny_cfg):
    return randomize_(build_segmentor(tiny_cfg)).eval()


def meta(h, w, flip=False):
    return dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), pad_shape=(h, w, 3), flip=flip,
                flip_direction='horizontal')


def test_train_loss_averages_over_all_pixels_including_ignored(tiny_cfg):
    model = build_segmentor(tiny_cfg).train()
    img = torch.randn(2, 3, 64, 64)
    gt = torch.randint(0, 5, (2, 1, 64, 64))
    gt[:, :, :32] = 255
    torch.manual_seed(0)
    losses = model.forward_train(img, [meta(64, 64)] * 2, gt)
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    # Recompute from the same forward: logits upsampled to the label size, CE summed / all pixels.
    torch.manual_seed(0)
    logits = F.interpolate(model.decode_head(model.backbone(img)), (64, 64), mode='bilinear', align_corners=False)
    per_pixel = F.cross_entropy(logits, gt[:, 0], ignore_index=255, reduction='none')
    assert torch.allclose(losses['decode.loss_ce'], per_pixel.sum() / per_pixel.numel(), atol=1e-6)
    valid = gt[:, 0] != 255
    acc = (logits.argmax(1)[valid] == gt[:, 0][valid]).float().mean() * 100
    assert torch.allclose(losses['decode.acc_seg'], acc, atol=1e-4)
    from mmseg.engine.trainer import parse_losses
    loss, log_vars = parse_losses(losses)
    assert loss is losses['decode.loss_ce'] or torch.equal(loss, losses['decode.loss_ce'])
    assert set(log_vars) == {'decode.loss_ce', 'decode.acc_seg', 'loss'}


def test_whole_inference_upsamples_twice_to_original_size(model):
    img = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        probs = model.inference(img, [meta(50, 75)], rescale=True)
        head = model.decode_head(model.backbone(img))
    expected = F.interpolate(F.interpolate(head, (64, 96), mode='bilinear'), (50, 75), mode='bilinear')
    assert probs.shape == (1, 5, 50, 75)
    assert torch.allclose(probs, expected.softmax(1), atol=1e-6)


def test_flip_meta_flips_back(model):
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        plain = model.inference(img.flip(3), [meta(64, 64)])
        flipped = model.inference(img.flip(3), [meta(64, 64, flip=True)])
    assert torch.allclose(flipped, plain.flip(3))


def test_slide_inference_windows_and_average(model):
    model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    img = torch.randn(1, 3, 64, 160)  # windows at x = 0, 48, 96 (the last shifted back to 160 - 64)
    with torch.no_grad():
        logits = model.slide_inference(img, [meta(64, 160)], rescale=False)
        crops = [model.encode_decode(img[:, :, :, x:x + 64]) for x in (0, 48, 96)]
    acc = torch.zeros(1, 5, 64, 160)
    cnt = torch.zeros(1, 1, 64, 160)
    for x, c in zip((0, 48, 96), crops):  # the official accumulation: each window padded to full size
        acc += F.pad(c, (x, 160 - x - 64, 0, 0))
        cnt[..., x:x + 64] += 1
    assert torch.equal(logits, acc / cnt)


def test_aug_test_averages_probabilities(model):
    img = torch.randn(1, 3, 64, 64)
    small = F.interpolate(img, (32, 32), mode='bilinear')
    metas = [[meta(64, 64)], [dict(meta(64, 64), img_shape=(32, 32, 3))]]
    with torch.no_grad():
        pred = model.forward_test([img, small], metas)
        probs = (model.inference(img, metas[0]) + model.inference(small, metas[1])) / 2
    assert isinstance(pred, list) and pred[0].shape == (64, 64)
    assert np.array_equal(pred[0], probs.argmax(1)[0].numpy())


def test_forward_test_rejects_unlisted_inputs(model):
    with pytest.raises(TypeError, match='lists of augmented views'):
        model.forward_test(torch.randn(1, 3, 32, 32), [meta(32, 32)])


def test_simple_test_equals_argmax_of_official_probabilities(model):
    img = torch.randn(2, 3, 64, 96)
    metas = [meta(50, 75, flip=True)] * 2
    with torch.no_grad():
        pred = model.simple_test(img, metas)
        probs = model.inference(img, metas)  # the official path: softmax at the original size, un-flipped
        logits = model.inference(img, metas, probs=False)
    assert torch.allclose(logits.softmax(1), probs, atol=1e-6)
    assert all(np.array_equal(p, q) for p, q in zip(pred, probs.argmax(1).numpy()))
