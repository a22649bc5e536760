"""RandomRotate, SegRescale, RandomCutOut, RandomMosaic: hand-computed outputs, the 0.24.1 order and number of
``np.random`` draws, and argument checks."""
import numpy as np
import pytest

from mmseg.datasets.pipelines import (Compose, RandomCutOut, RandomMosaic, RandomRotate, SegRescale, imrotate)

GRID = np.arange(1, 10, dtype=np.uint8).reshape(3, 3)


def _draws_after(seed, n):
    """What the global RNG gives after ``n`` draws from ``seed`` (to count the draws a transform used)."""
    rs = np.random.RandomState(seed)
    for _ in range(n):
        rs.rand()
    return rs.rand()


def test_imrotate_clockwise_about_pixel_centre():
    want = [[7, 4, 1], [8, 5, 2], [9, 6, 3]]  # 90° clockwise
    assert imrotate(GRID, 90, interpolation='nearest').tolist() == want
    assert imrotate(np.dstack([GRID] * 3), 90)[..., 2].tolist() == want
    assert imrotate(GRID, -90, interpolation='nearest').tolist() == [[3, 6, 9], [2, 5, 8], [1, 4, 7]]
    wide = np.arange(8, dtype=np.uint8).reshape(2, 4)
    assert imrotate(wide, 90, interpolation='nearest').shape == (2, 4)
    assert imrotate(wide, 90, interpolation='nearest', auto_bound=True).shape == (4, 2)
    # 45°: the corners come from outside the image and get the border value
    assert imrotate(np.zeros((5, 5), np.uint8), 45, border_value=255, interpolation='nearest')[0, 0] == 255


def test_random_rotate_applies_and_draws_twice():
    t = RandomRotate(prob=1.0, degree=(90, 90), seg_pad_val=255)
    np.random.seed(3)
    res = t(dict(img=np.dstack([GRID] * 3), gt_semantic_seg=GRID.copy(), seg_fields=['gt_semantic_seg']))
    assert res['img'][..., 0].tolist() == res['gt_semantic_seg'].tolist() == [[7, 4, 1], [8, 5, 2], [9, 6, 3]]
    assert np.random.rand() == _draws_after(3, 2)  # rand() for prob, uniform() for the angle
    # not applied (prob 0): both draws still happen, nothing changes
    np.random.seed(4)
    res = RandomRotate(prob=0.0, degree=30)(dict(img=GRID.copy(), seg_fields=[]))
    assert res['img'].tolist() == GRID.tolist() and np.random.rand() == _draws_after(4, 2)


def test_random_rotate_angle_comes_from_the_second_draw():
    np.random.seed(7)
    rs = np.random.RandomState(7)
    applied, angle = rs.rand() < 0.5, rs.uniform(-30, 30)
    img = np.random.RandomState(0).randint(0, 255, (9, 11, 3)).astype(np.uint8)
    out = RandomRotate(prob=0.5, degree=30, pad_val=0)(dict(img=img.copy(), seg_fields=[]))['img']
    want = imrotate(img, angle, border_value=0) if applied else img
    np.testing.assert_array_equal(out, want)


def test_seg_rescale():
    seg = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    # 0.5: size (int(3·0.5 + 0.5), int(2·0.5 + 0.5)) = (2, 1); nearest takes source columns 0 and 1
    assert SegRescale(0.5)(dict(gt=seg, seg_fields=['gt']))['gt'].tolist() == [[1, 2]]
    assert SegRescale(2)(dict(gt=seg, seg_fields=['gt']))['gt'].tolist() == [
        [1, 1, 2, 2, 3, 3], [1, 1, 2, 2, 3, 3], [4, 4, 5, 5, 6, 6], [4, 4, 5, 5, 6, 6]]
    res = dict(gt=seg, seg_fields=['gt'])
    assert SegRescale()(res)['gt'] is seg


def test_cutout_fixed_box_and_draw_order():
    img = np.full((4, 6, 3), 9, np.uint8)
    seg = np.ones((4, 6), np.uint8)
    np.random.seed(11)
    rs = np.random.RandomState(11)
    assert rs.rand() < 1.0
    n = rs.randint(1, 3)  # n_holes=(1, 2) → randint(1, 3)
    boxes = []
    for _ in range(n):
        x1, y1 = rs.randint(0, 6), rs.randint(0, 4)
        k = rs.randint(0, 2)
        w, h = [(2, 1), (10, 10)][k]
        boxes.append((x1, y1, min(x1 + w, 6), min(y1 + h, 4)))
    want_img, want_seg = img.copy(), seg.copy()
    for x1, y1, x2, y2 in boxes:
        want_img[y1:y2, x1:x2] = (1, 2, 3)
        want_seg[y1:y2, x1:x2] = 255
    t = RandomCutOut(prob=1.0, n_holes=(1, 2), cutout_shape=[(2, 1), (10, 10)], fill_in=(1, 2, 3), seg_fill_in=255)
    res = t(dict(img=img, gt_semantic_seg=seg, seg_fields=['gt_semantic_seg']))
    np.testing.assert_array_equal(res['img'], want_img)
    np.testing.assert_array_equal(res['gt_semantic_seg'], want_seg)
    assert np.random.rand() == rs.rand()


def test_cutout_ratio_and_skip():
    img = np.zeros((10, 20, 3), np.uint8)
    np.random.seed(0)
    rs = np.random.RandomState(0)
    rs.rand(), rs.randint(1, 2)
    x1, y1, _ = rs.randint(0, 20), rs.randint(0, 10), rs.randint(0, 1)
    out = RandomCutOut(prob=1, n_holes=1, cutout_ratio=(0.5, 0.2), fill_in=(7, 7, 7))(dict(img=img))['img']
    assert np.argwhere(out[..., 0] == 7).min(0).tolist() == [y1, x1]
    assert (out[..., 0] == 7).sum() == (min(y1 + 2, 10) - y1) * (min(x1 + 10, 20) - x1)  # int(0.2·10), int(0.5·20)
    np.random.seed(1)
    untouched = RandomCutOut(prob=0, n_holes=3, cutout_shape=(2, 2))(dict(img=img.copy() * 0))['img']
    assert not untouched.any() and np.random.rand() == _draws_after(1, 1)


def _sample(value, h=2, w=2):
    img = (value * 10 + np.arange(h * w).reshape(h, w)).astype(np.uint8)
    return dict(img=np.dstack([img] * 3), gt_semantic_seg=img.copy(), seg_fields=['gt_semantic_seg'])


def test_mosaic_centre_at_canvas_middle():
    t = RandomMosaic(prob=1, img_scale=(2, 2), center_ratio_range=(1.0, 1.0))
    res = _sample(1)
    res['mix_results'] = [_sample(2), _sample(3), _sample(4)]
    out = t(res)
    want = np.block([[10 + np.arange(4).reshape(2, 2), 20 + np.arange(4).reshape(2, 2)],
                     [30 + np.arange(4).reshape(2, 2), 40 + np.arange(4).reshape(2, 2)]])
    assert out['img'].shape == (4, 4, 3) and out['img_shape'] == (4, 4, 3)
    np.testing.assert_array_equal(out['img'][..., 0], want)
    np.testing.assert_array_equal(out['gt_semantic_seg'], want)


def test_mosaic_off_centre_crops_and_pads():
    t = RandomMosaic(prob=1, img_scale=(2, 2), center_ratio_range=(0.5, 0.5), pad_val=0, seg_pad_val=255)
    res = _sample(1)
    res['mix_results'] = [_sample(2), _sample(3), _sample(4)]
    out = t(res)  # centre (1, 1): each sample's part nearest the centre lands on the canvas
    want = np.full((4, 4), 255)
    want[0, 0] = 13                       # top-left: bottom-right pixel of sample 1
    want[0, 1:3] = [22, 23]               # top-right: bottom row of sample 2
    want[1:3, 0] = [31, 33]               # bottom-left: right column of sample 3
    want[1:3, 1:3] = [[40, 41], [42, 43]]  # bottom-right: all of sample 4
    np.testing.assert_array_equal(out['gt_semantic_seg'], want)
    np.testing.assert_array_equal(out['img'][..., 0], np.where(want == 255, 0, want))


def test_mosaic_resizes_keep_ratio_and_draws():
    t = RandomMosaic(prob=1, img_scale=(2, 2), center_ratio_range=(0.5, 1.5))
    res = _sample(1, h=4, w=2)  # ratio min(2/4, 2/2) = 0.5 → 1 wide, 2 high
    res['mix_results'] = [_sample(2), _sample(3), _sample(4)]
    np.random.seed(5)
    rs = np.random.RandomState(5)
    rs.rand()
    cx, cy = int(rs.uniform(0.5, 1.5) * 2), int(rs.uniform(0.5, 1.5) * 2)
    out = t(res)['gt_semantic_seg']
    assert np.random.rand() == rs.rand()
    # the top-left sample (resized by nearest to source rows 0 and 2 of column 0: 10, 14) ends at the centre
    assert out[cy - 1, cx - 1] == 14 and (cy < 2 or out[cy - 2, cx - 1] == 10)


def test_mosaic_needs_mix_results_and_skips_without_draws():
    with pytest.raises(KeyError, match='MultiImageMixDataset'):
        RandomMosaic(prob=1)(_sample(1))
    np.random.seed(2)
    res = RandomMosaic(prob=0)(_sample(1))
    assert res['img'].shape == (2, 2, 3) and np.random.rand() == _draws_after(2, 1)
    np.random.seed(2)
    rs = np.random.RandomState(2)
    assert RandomMosaic(prob=1).get_indexes(range(7)) == [rs.randint(0, 7) for _ in range(3)]


def test_registered_and_repr():
    pipe = Compose([dict(type='RandomRotate', prob=0.5, degree=20), dict(type='SegRescale', scale_factor=0.5),
                    dict(type='RandomCutOut', prob=0.5, n_holes=2, cutout_shape=(4, 4)),
                    dict(type='RandomMosaic', prob=0.5)])
    assert repr(pipe.transforms[0]) == ('RandomRotate(prob=0.5, degree=(-20, 20), pad_val=0, seg_pad_val=255, '
                                        'center=None, auto_bound=False)')
    assert repr(pipe.transforms[3]).endswith('pad_val=0, seg_pad_val=255)')


@pytest.mark.parametrize('build, arg', [
    (lambda: RandomRotate(prob=1.5, degree=10), 'prob'),
    (lambda: RandomRotate(prob=0.5, degree=-10), 'degree'),
    (lambda: RandomRotate(prob=0.5, degree=(1, 2, 3)), 'degree'),
    (lambda: RandomRotate(prob=0.5, degree=10, center=(1, 1), auto_bound=True), 'auto_bound'),
    (lambda: SegRescale(scale_factor=0), 'scale_factor'),
    (lambda: RandomCutOut(prob=0.5, n_holes=1), 'cutout_shape'),
    (lambda: RandomCutOut(prob=0.5, n_holes=1, cutout_shape=(1, 1), cutout_ratio=(0.1, 0.1)), 'cutout_shape'),
    (lambda: RandomCutOut(prob=0.5, n_holes=(3, 1), cutout_shape=(1, 1)), 'n_holes'),
    (lambda: RandomCutOut(prob=0.5, n_holes=1, cutout_shape='big'), 'cutout_shape'),
    (lambda: RandomCutOut(prob=0.5, n_holes=1, cutout_shape=(1, 1), seg_fill_in=256), 'seg_fill_in'),
    (lambda: RandomCutOut(prob=-1, n_holes=1, cutout_shape=(1, 1)), 'prob'),
    (lambda: RandomMosaic(prob=2), 'prob'),
    (lambda: RandomMosaic(prob=1, img_scale=(0, 4)), 'img_scale'),
    (lambda: RandomMosaic(prob=1, center_ratio_range=(1.5, 0.5)), 'center_ratio_range'),
])
def test_bad_arguments_name_the_argument(build, arg):
    with pytest.raises(ValueError, match=arg):
        build()
