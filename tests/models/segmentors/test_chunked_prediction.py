"""Single-scale prediction at the original size in class groups equals the plain resize-then-argmax bit for bit."""
import numpy as np
import pytest
import torch

from mmseg.models import build_segmentor
from mmseg.models.segmentors.encoder_decoder import upsample_argmax
from mmseg.models.utils import resize
from tests.conftest import randomize_


def _plain(logits, size):
    return resize(logits.contiguous(), size, align_corners=False).argmax(dim=1)


@pytest.mark.parametrize('layout', ['nchw', 'nhwc'])
@pytest.mark.parametrize('num_classes,size', [(150, (61, 83)), (19, (100, 37)), (7, (33, 33)), (300, (9, 11))])
def test_every_group_size_gives_the_plain_labels(layout, num_classes, size):
    torch.manual_seed(num_classes)
    logits = torch.randn(2, num_classes, 13, 17)
    if layout == 'nhwc':
        logits = logits.contiguous(memory_format=torch.channels_last)
    expected = _plain(logits, size)
    plane = 2 * size[0] * size[1] * 4
    # one class per group, group boundaries at every position (1, 2, 3, 5 classes), a ragged last group, one group
    for classes_per_group in (1, 2, 3, 5, num_classes - 1, num_classes):
        got = upsample_argmax(logits, size, False, max_chunk_bytes=classes_per_group * plane)
        assert got.dtype == torch.int64 and got.shape == (2,) + size
        assert torch.equal(got, expected), classes_per_group


def test_ties_across_group_boundaries_keep_the_first_class():
    # Classes 0..5 equal everywhere, so every pixel is a tie that crosses each group boundary.
    logits = torch.zeros(1, 6, 4, 4)
    logits[:, 3, :2] = 1.0  # a strict maximum in the second group for the top rows
    for per_group in (1, 2, 4):
        got = upsample_argmax(logits, (9, 9), False, max_chunk_bytes=per_group * 81 * 4)
        assert torch.equal(got, _plain(logits, (9, 9)))
    assert (got == 0).any() and (got == 3).any()


def test_same_size_needs_no_resize():
    logits = torch.randn(1, 5, 8, 8)
    assert torch.equal(upsample_argmax(logits, (8, 8), False, 1), logits.argmax(1))


def _meta(h, w, flip=False):
    return dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), pad_shape=(h, w, 3), flip=flip,
                flip_direction='horizontal')


@pytest.fixture(scope='module')
def model():
    from tests.conftest import segnext_cfg
    return randomize_(build_segmentor(segnext_cfg('t', num_classes=5, depths=[1, 1, 1, 1]))).eval()


@pytest.mark.parametrize('mode,flip', [('whole', True), ('slide', False)])
def test_simple_test_chunked_equals_inference_argmax(model, mode, flip):
    model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48)) if mode == 'slide' else {}
    img = torch.randn(1, 3, 64, 96)
    metas = [_meta(150, 221, flip)]
    with torch.no_grad():
        plain = model.inference(img, metas, probs=False).argmax(1).numpy()
        model.test_cfg['predict_chunk_mb'] = 150 * 221 * 4 * 2 / 2**20  # groups of 2 of the 5 classes
        chunked = model.simple_test(img, metas)
        model.test_cfg['predict_chunk_mb'] = 0  # the plain path, selected by the switch
        unchunked = model.simple_test(img, metas)
    assert np.array_equal(chunked[0], plain[0]) and np.array_equal(unchunked[0], plain[0])
    assert chunked[0].dtype == np.int64


def test_fused_channels_last_model_matches_its_inference(tiny_cfg):
    model = randomize_(build_segmentor(tiny_cfg)).eval().fuse()  # NHWC logits on the CPU
    img = torch.randn(1, 3, 64, 64)
    metas = [_meta(97, 131)]
    with torch.no_grad():
        plain = model.inference(img, metas, probs=False).argmax(1).numpy()
        model.test_cfg['predict_chunk_mb'] = 97 * 131 * 4 / 2**20  # one class per group
        chunked = model.simple_test(img, metas)
    assert np.array_equal(chunked[0], plain[0])


def test_bad_chunk_setting_is_named(tiny_cfg):
    cfg = dict(tiny_cfg, test_cfg=dict(mode='whole', predict_chunk_mb=-1))
    with pytest.raises(ValueError, match='predict_chunk_mb'):
        build_segmentor(cfg)
