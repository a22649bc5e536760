"""Transforms against values computed by hand from the spec §5.4 formulas."""
import cv2
import numpy as np
import pytest

from mmseg.datasets.pipelines import (Normalize, Pad, PhotoMetricDistortion, RandomCrop, RandomFlip, Resize,
                                      ResizeToMultiple)


def _results(h, w, label=None):
    img = np.random.RandomState(0).randint(0, 256, size=(h, w, 3)).astype(np.uint8)
    r = dict(img=img, img_shape=img.shape, seg_fields=[])
    if label is not None:
        r['gt_semantic_seg'] = label
        r['seg_fields'].append('gt_semantic_seg')
    return r


class _Queue:
    """Replace an np.random function with a fixed sequence of returns; records the call arguments."""

    def __init__(self, values):
        self.values, self.calls = list(values), []

    def __call__(self, *args, **kwargs):
        self.calls.append(args)
        return self.values.pop(0)


# ---------------------------------------------------------------- Resize
def test_resize_ratio_range_hand_computed(monkeypatch):
    # r = 0.25 * (2.0 - 0.5) + 0.5 = 0.875 -> target (1792, 448); image 400x300 (w×h):
    # f = min(1792/400, 448/300) = 1.49333; new size int(400f+0.5)=597, int(300f+0.5)=448
    monkeypatch.setattr(np.random, 'random_sample', lambda: 0.25)
    label = (np.arange(300 * 400).reshape(300, 400) % 7).astype(np.uint8)
    out = Resize(img_scale=(2048, 512), ratio_range=(0.5, 2.0))(_results(300, 400, label))
    assert out['scale'] == (1792, 448)
    assert out['img'].shape == (448, 597, 3)
    assert out['gt_semantic_seg'].shape == (448, 597)
    assert set(np.unique(out['gt_semantic_seg'])) <= set(range(7))  # nearest: no new label values
    np.testing.assert_allclose(out['scale_factor'], [597 / 400, 448 / 300, 597 / 400, 448 / 300], rtol=1e-6)
    assert out['img_shape'] == out['pad_shape'] == (448, 597, 3)


def test_resize_ratio_uses_global_numpy_rng():
    np.random.seed(123)
    r = np.random.random_sample() * 1.5 + 0.5
    target = (int(2048 * r), int(512 * r))
    f = min(max(target) / 333, min(target) / 250)
    expected = (int(250 * f + 0.5), int(333 * f + 0.5))
    np.random.seed(123)
    out = Resize(img_scale=(2048, 512), ratio_range=(0.5, 2.0))(_results(250, 333))
    assert out['img'].shape[:2] == expected


def test_resize_preset_scale_keep_ratio():
    # ADE test path: scale (2048, 512) on a 500x375 image -> f = min(2048/500, 512/375) -> 683 x 512
    r = _results(375, 500)
    r['scale'] = (2048, 512)
    out = Resize(img_scale=(2048, 512), keep_ratio=True)(r)
    assert out['img'].shape == (512, 683, 3)


def test_resize_without_keep_ratio_and_ratio_only(monkeypatch):
    out = Resize(img_scale=(30, 20), keep_ratio=False)(_results(7, 9, np.zeros((7, 9), np.uint8)))
    assert out['img'].shape == (20, 30, 3) and out['gt_semantic_seg'].shape == (20, 30)
    # img_scale=None: the ratio applies to the image's own (w, h): r = 0.5*1.5+0.5 = 1.25 -> (250, 125)
    monkeypatch.setattr(np.random, 'random_sample', lambda: 0.5)
    out = Resize(img_scale=None, ratio_range=(0.5, 2.0))(_results(100, 200))
    assert out['img'].shape == (125, 250, 3)


def test_resize_multiscale_modes(monkeypatch):
    q = _Queue([1])
    monkeypatch.setattr(np.random, 'randint', q)
    out = Resize(img_scale=[(40, 20), (80, 40)], multiscale_mode='value', keep_ratio=False)(_results(10, 10))
    assert out['img'].shape == (40, 80, 3) and q.calls == [(2,)]
    q = _Queue([60, 25])
    monkeypatch.setattr(np.random, 'randint', q)
    out = Resize(img_scale=[(40, 20), (80, 30)], multiscale_mode='range', keep_ratio=False)(_results(10, 10))
    assert q.calls == [(40, 81), (20, 31)]
    assert out['img'].shape == (25, 60, 3)


def test_resize_bad_config():
    with pytest.raises(ValueError, match='exactly one img_scale'):
        Resize(img_scale=[(1, 2), (3, 4)], ratio_range=(0.5, 2.0))
    with pytest.raises(ValueError, match='multiscale_mode'):
        Resize(img_scale=(1, 2), multiscale_mode='bogus')


# ---------------------------------------------------------------- RandomCrop
def _crop_label():
    """20x20: rows 0-9 are all class 1 (a crop there fails), rows 10-19 alternate classes 1/2 by column."""
    label = np.ones((20, 20), np.uint8)
    label[10:, ::2] = 2
    return label


@pytest.mark.parametrize('failures', [0, 3, 9])
def test_random_crop_retries_until_accepted(monkeypatch, failures):
    offsets = [0, 4] * failures + [10, 6] + [0, 0] * 20
    q = _Queue(offsets)
    monkeypatch.setattr(np.random, 'randint', q)
    r = _results(20, 20, _crop_label())
    img = r['img'].copy()
    out = RandomCrop((10, 10), cat_max_ratio=0.75)(r)
    assert len(q.calls) == 2 * (failures + 1)
    assert q.calls[0] == (0, 11) and q.calls[1] == (0, 11)
    np.testing.assert_array_equal(out['img'], img[10:20, 6:16])
    np.testing.assert_array_equal(out['gt_semantic_seg'], _crop_label()[10:20, 6:16])
    assert out['img_shape'] == (10, 10, 3)


def test_random_crop_uses_eleventh_box_unchecked(monkeypatch):
    q = _Queue([0, 1] * 10 + [0, 7] + [10, 0] * 5)
    monkeypatch.setattr(np.random, 'randint', q)
    r = _results(20, 20, _crop_label())
    img = r['img'].copy()
    out = RandomCrop((10, 10), cat_max_ratio=0.75)(r)
    assert len(q.calls) == 22  # 1 initial + 10 redraws, no check of the last one
    np.testing.assert_array_equal(out['img'], img[0:10, 7:17])


def test_random_crop_ratio_and_ignore(monkeypatch):
    crop = RandomCrop((4, 4), cat_max_ratio=0.75)
    two = np.ones((4, 4), np.uint8)
    two[0, :3] = 2  # 13/16 = 0.81 of one class -> rejected
    assert not crop._acceptable(two)
    two[1, :3] = 2  # 10/16 = 0.625 -> accepted
    assert crop._acceptable(two)
    ign = np.full((4, 4), 255, np.uint8)
    ign[0, 0] = 1  # one non-ignored class only -> rejected even though it is 1/16 of the crop
    assert not crop._acceptable(ign)
    ign[0, 1] = 2
    assert crop._acceptable(ign)  # 1:1 split of the non-ignored pixels -> accepted


def test_random_crop_smaller_image_is_truncated():
    out = RandomCrop((16, 16))(_results(5, 8, np.zeros((5, 8), np.uint8)))
    assert out['img'].shape == (5, 8, 3) and out['gt_semantic_seg'].shape == (5, 8)


# ---------------------------------------------------------------- RandomFlip
def test_random_flip():
    label = np.arange(12, dtype=np.uint8).reshape(3, 4)
    r = _results(3, 4, label.copy())
    img = r['img'].copy()
    out = RandomFlip(prob=1.0)(r)
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    np.testing.assert_array_equal(out['gt_semantic_seg'], label[:, ::-1])
    out = RandomFlip(prob=0.0)(_results(3, 4, label.copy()))
    assert not out['flip']
    np.testing.assert_array_equal(out['gt_semantic_seg'], label)
    r = _results(3, 4, label.copy())
    r['flip'], r['flip_direction'] = True, 'vertical'
    out = RandomFlip()(r)  # preset by MultiScaleFlipAug; prob=None never draws
    np.testing.assert_array_equal(out['gt_semantic_seg'], label[::-1])


def test_random_flip_draw(monkeypatch):
    monkeypatch.setattr(np.random, 'rand', lambda: 0.49)
    assert RandomFlip(prob=0.5)(_results(2, 2))['flip']
    monkeypatch.setattr(np.random, 'rand', lambda: 0.5)
    assert not RandomFlip(prob=0.5)(_results(2, 2))['flip']


# ---------------------------------------------------------------- PhotoMetricDistortion
def _const(bgr, h=2, w=3):
    return dict(img=np.tile(np.array(bgr, np.uint8), (h, w, 1)))


def test_photometric_brightness_and_contrast_by_hand(monkeypatch):
    # coins: brightness on, mode 1, contrast on, saturation off, hue off
    monkeypatch.setattr(np.random, 'randint', _Queue([1, 1, 1, 0, 0]))
    monkeypatch.setattr(np.random, 'uniform', _Queue([10.7, 1.5]))
    out = PhotoMetricDistortion()(_const((100, 150, 200)))['img']
    # brightness: 110.7 -> 110, 160.7 -> 160, 210.7 -> 210 (truncated to uint8); contrast ×1.5: 165, 240, 315 -> 255
    np.testing.assert_array_equal(out[0, 0], [165, 240, 255])
    assert out.dtype == np.uint8


def test_photometric_mode0_contrast_last(monkeypatch):
    # brightness off, mode 0, saturation off, hue off, contrast on (drawn last)
    q = _Queue([0, 0, 0, 0, 1])
    monkeypatch.setattr(np.random, 'randint', q)
    monkeypatch.setattr(np.random, 'uniform', _Queue([0.5]))
    out = PhotoMetricDistortion()(_const((100, 151, 3)))['img']
    np.testing.assert_array_equal(out[0, 0], [50, 75, 1])
    assert q.calls == [(2,)] * 5


def test_photometric_hue_and_saturation_by_hand(monkeypatch):
    # Pure red (BGR 0,0,255) is H=0 in OpenCV's 0..180 scale; +60 is green.
    q = _Queue([0, 0, 0, 1, 60, 0])
    monkeypatch.setattr(np.random, 'randint', q)
    out = PhotoMetricDistortion(hue_delta=60)(_const((0, 0, 255)))['img']
    np.testing.assert_array_equal(out[0, 0], [0, 255, 0])
    assert q.calls[4] == (-60, 60)
    # Saturation ×0 turns a colour grey at its value (V = max channel = 255).
    monkeypatch.setattr(np.random, 'randint', _Queue([0, 0, 1, 0, 0]))
    monkeypatch.setattr(np.random, 'uniform', _Queue([0.0]))
    out = PhotoMetricDistortion()(_const((0, 0, 255)))['img']
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])


def _replay_photometric(bgr, seed):
    """Spec §5.4 written out step by step on one pixel, with the same seeded draws."""
    rs = np.random.RandomState(seed)
    px = np.array([[bgr]], np.uint8)

    def conv(a, alpha=1.0, beta=0.0):
        return np.clip(a.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    def contrast(p):
        return conv(p, alpha=rs.uniform(0.5, 1.5)) if rs.randint(2) else p

    if rs.randint(2):
        px = conv(px, beta=rs.uniform(-32, 32))
    mode = rs.randint(2)
    if mode == 1:
        px = contrast(px)
    if rs.randint(2):
        hsv = cv2.cvtColor(px, cv2.COLOR_BGR2HSV)
        hsv[..., 1] = conv(hsv[..., 1], alpha=rs.uniform(0.5, 1.5))
        px = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if rs.randint(2):
        hsv = cv2.cvtColor(px, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + rs.randint(-18, 18)) % 180
        px = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if mode == 0:
        px = contrast(px)
    return px[0, 0]


@pytest.mark.parametrize('seed', range(12))
def test_photometric_seeded_matches_replay(seed):
    np.random.seed(seed)
    out = PhotoMetricDistortion()(_const((40, 120, 210), 3, 3))['img']
    assert (out == out[0, 0]).all()  # a constant image stays constant
    np.testing.assert_array_equal(out[0, 0], _replay_photometric((40, 120, 210), seed))


def test_photometric_rejects_float():
    with pytest.raises(TypeError, match='uint8'):
        PhotoMetricDistortion()(dict(img=np.zeros((2, 2, 3), np.float32)))


# ---------------------------------------------------------------- Normalize / Pad / ResizeToMultiple
def test_normalize_to_rgb():
    img = np.zeros((1, 2, 3), np.uint8)
    img[0, 0] = (10, 20, 30)  # BGR
    out = Normalize(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])(dict(img=img))
    assert out['img'].dtype == np.float32
    expected = [(30 - 123.675) / 58.395, (20 - 116.28) / 57.12, (10 - 103.53) / 57.375]
    np.testing.assert_allclose(out['img'][0, 0], expected, rtol=1e-6)
    assert out['img_norm_cfg']['to_rgb'] is True
    out = Normalize(mean=[0, 0, 0], std=[2, 2, 2], to_rgb=False)(dict(img=img))
    np.testing.assert_allclose(out['img'][0, 0], [5, 10, 15])


def test_pad_to_size_and_divisor():
    label = np.full((3, 4), 7, np.uint8)
    r = _results(3, 4, label)
    img = r['img'].copy()
    out = Pad(size=(5, 6), pad_val=0, seg_pad_val=255)(r)
    assert out['img'].shape == (5, 6, 3) and out['pad_shape'] == (5, 6, 3)
    np.testing.assert_array_equal(out['img'][:3, :4], img)
    assert (out['img'][3:] == 0).all() and (out['img'][:, 4:] == 0).all()
    assert (out['gt_semantic_seg'][:3, :4] == 7).all()
    assert (out['gt_semantic_seg'][3:] == 255).all() and (out['gt_semantic_seg'][:, 4:] == 255).all()
    out = Pad(size_divisor=32)(_results(33, 10))
    assert out['img'].shape == (64, 32, 3)
    with pytest.raises(ValueError, match='exactly one'):
        Pad()
    with pytest.raises(ValueError, match='cannot pad'):
        Pad(size=(2, 2))(_results(3, 3))


def test_resize_to_multiple():
    label = (np.arange(33 * 65).reshape(33, 65) % 5).astype(np.uint8)
    out = ResizeToMultiple(size_divisor=32)(_results(33, 65, label))
    assert out['img'].shape == (64, 96, 3) and out['gt_semantic_seg'].shape == (64, 96)
    assert set(np.unique(out['gt_semantic_seg'])) <= set(range(5))
    assert out['img_shape'] == (64, 96, 3)
    r = _results(64, 32)
    img = r['img'].copy()
    np.testing.assert_array_equal(ResizeToMultiple()(r)['img'], img)  # already a multiple: unchanged
