"""RGB2Gray, AdjustGamma, Rerange, CLAHE: hand-computed outputs (mmseg 0.24.1 semantics) and argument checks."""
import numpy as np
import pytest

from mmseg.datasets.pipelines import CLAHE, AdjustGamma, Compose, Rerange, RGB2Gray


def test_rgb2gray_weights_channels_in_storage_order():
    img = np.array([[[10, 20, 30], [0, 0, 255]]], dtype=np.uint8)
    out = RGB2Gray()(dict(img=img))
    # 10·0.299 + 20·0.587 + 30·0.114 = 18.15; 255·0.114 = 29.07 (the first weight applies to channel 0 = B)
    assert out['img'].dtype == np.float64 and out['img'].shape == (1, 2, 3) and out['img_shape'] == (1, 2, 3)
    np.testing.assert_allclose(out['img'][0, :, 0], [18.15, 29.07], rtol=0, atol=1e-12)
    assert np.all(out['img'] == out['img'][..., :1])
    one = RGB2Gray(out_channels=1, weights=(1, 0, 0))(dict(img=img.copy()))['img']
    assert one.shape == (1, 2, 1) and one[0, :, 0].tolist() == [10.0, 0.0]


def test_adjust_gamma_table_truncates():
    t = AdjustGamma(gamma=2)
    # sqrt(i/255)·255 truncated: 0 → 0, 64 → 127.75 → 127, 255 → 255
    assert (t.table[0], t.table[64], t.table[255]) == (0, 127, 255)
    out = t(dict(img=np.array([[[0, 64, 255]]], dtype=np.uint8)))['img']
    assert out.dtype == np.uint8 and out.tolist() == [[[0, 127, 255]]]
    # a float image is cast to uint8 first (like 0.24.1's np.array(img, dtype=np.uint8))
    assert AdjustGamma(1)(dict(img=np.array([[[3.7, 64.2, 0.0]]])))['img'].tolist() == [[[3, 64, 0]]]


def test_rerange_maps_min_max():
    img = np.array([[0, 50, 100]], dtype=np.uint8)
    assert Rerange(0, 1)(dict(img=img))['img'].tolist() == [[0.0, 0.5, 1.0]]
    assert Rerange(-1, 1)(dict(img=img))['img'].tolist() == [[-1.0, 0.0, 1.0]]
    assert Rerange()(dict(img=np.array([[10, 20]], np.uint8)))['img'].tolist() == [[0.0, 255.0]]
    with pytest.raises(ValueError, match='constant'):
        Rerange()(dict(img=np.full((2, 2), 7, np.uint8), filename='flat.png'))


def test_clahe_single_tile_by_hand():
    # One tile, 4 pixels: the clip limit int(40·4/256) → 1 clips both bins to 1 and spreads the excess
    # (bins 0 and 128 get +1); LUT = round(cumsum · 255/4): value 0 → round(127.5) = 128, 255 → 255.
    img = np.dstack([np.array([[0, 0], [255, 255]], np.uint8)] * 3)
    out = CLAHE(tile_grid_size=(1, 1))(dict(img=img))['img']
    assert out is img and out[..., 0].tolist() == [[128, 128], [255, 255]] and np.all(out == out[..., :1])
    # float input keeps its dtype (written back channel by channel)
    fimg = img.astype(np.float32)
    assert CLAHE(tile_grid_size=(1, 1))(dict(img=fimg))['img'].dtype == np.float32


def test_registered_and_repr():
    pipe = Compose([dict(type='RGB2Gray'), dict(type='AdjustGamma', gamma=1.5), dict(type='Rerange'),
                    dict(type='CLAHE', clip_limit=2.0)])
    assert [type(t).__name__ for t in pipe.transforms] == ['RGB2Gray', 'AdjustGamma', 'Rerange', 'CLAHE']
    assert repr(pipe.transforms[0]) == 'RGB2Gray(out_channels=None, weights=(0.299, 0.587, 0.114))'
    assert repr(pipe.transforms[3]) == 'CLAHE(clip_limit=2.0, tile_grid_size=(8, 8))'


@pytest.mark.parametrize('build, arg', [
    (lambda: RGB2Gray(out_channels=0), 'out_channels'),
    (lambda: RGB2Gray(weights='abc'), 'weights'),
    (lambda: AdjustGamma(gamma=0), 'gamma'),
    (lambda: AdjustGamma(gamma='2'), 'gamma'),
    (lambda: Rerange(min_value='0'), 'min_value'),
    (lambda: Rerange(5, 5), 'min_value'),
    (lambda: CLAHE(clip_limit=None), 'clip_limit'),
    (lambda: CLAHE(tile_grid_size=(8,)), 'tile_grid_size'),
    (lambda: CLAHE(tile_grid_size=(8, 0)), 'tile_grid_size'),
])
def test_bad_arguments_name_the_argument(build, arg):
    with pytest.raises(ValueError, match=arg):
        build()


def test_rgb2gray_channel_mismatch_names_file():
    with pytest.raises(ValueError, match='a.png'):
        RGB2Gray()(dict(img=np.zeros((2, 2, 4), np.uint8), filename='a.png'))
