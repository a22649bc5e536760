"""inference_segmentor accepts PIL images and refuses empty or malformed inputs naming them."""
import numpy as np
import pytest
from PIL import Image

from mmseg.apis.inference import LoadImage, as_bgr_image


def test_pil_image_becomes_bgr():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    out = as_bgr_image(Image.fromarray(rgb))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert (out[..., 2] == 200).all() and (out[..., 0] == 0).all()
    grey = as_bgr_image(Image.fromarray(np.full((3, 3), 7, np.uint8)))  # any mode converts
    assert grey.shape == (3, 3, 3) and (grey == 7).all()
    pal = Image.fromarray(np.zeros((2, 2), np.uint8), mode='P')
    pal.putpalette([10, 20, 30] * 256)
    assert as_bgr_image(pal)[0, 0].tolist() == [30, 20, 10]


@pytest.mark.parametrize('img,match', [
    (np.zeros((0, 0, 3), np.uint8), r'empty \(shape \(0, 0, 3\)\)'),
    (np.zeros((5, 0), np.uint8), r'empty'),
    (np.zeros((4, 4, 3), np.float32), r'uint8 .*float32'),
    (np.zeros((4, 4), np.uint8), r'grayscale'),
    (np.zeros((4, 4, 4), np.uint8), r'alpha'),
    (np.zeros((2, 4, 4, 3), np.uint8), r'list'),
    ([[1, 2]], r'got list'),
])
def test_bad_arrays_are_named(img, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LoadImage()(dict(img=img))


def test_empty_pil_and_tensor():
    import torch
    with pytest.raises(ValueError, match='PIL image is empty'):
        as_bgr_image(Image.new('RGB', (0, 0)))
    with pytest.raises(TypeError, match=r'torch.Tensor \(3, 4, 4\)'):
        as_bgr_image(torch.zeros(3, 4, 4))


def test_inference_segmentor_on_a_pil_image_equals_the_array(tmp_path):
    from mmseg.apis import inference_segmentor, init_segmentor
    from tests.conftest import segnext_cfg
    from mmseg.utils import Config
    test_pipeline = [dict(type='LoadImageFromFile'),
                     dict(type='MultiScaleFlipAug', img_scale=(64, 48), flip=False,
                          transforms=[dict(type='Resize', keep_ratio=True), dict(type='RandomFlip'),
                                      dict(type='Normalize', mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True),
                                      dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])]
    cfg = Config(dict(model=dict(segnext_cfg('t', num_classes=3, depths=[1, 1, 1, 1]), pretrained=None),
                      data=dict(test=dict(type='CustomDataset', pipeline=test_pipeline, img_dir='x'))))
    model = init_segmentor(cfg, None, device='cpu')
    rgb = np.random.RandomState(0).randint(0, 256, (40, 50, 3)).astype(np.uint8)
    from_pil = inference_segmentor(model, Image.fromarray(rgb))[0]
    from_array = inference_segmentor(model, np.ascontiguousarray(rgb[..., ::-1]))[0]
    assert from_pil.shape == (40, 50) and np.array_equal(from_pil, from_array)
    with pytest.raises(ValueError, match='empty'):
        inference_segmentor(model, np.zeros((0, 0, 3), np.uint8))


def test_show_result_refuses_an_unknown_extension_naming_it(tmp_path):
    from mmseg.apis.inference import check_image_out_file, show_result
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"out_file '.*x\.xyz': no image writer for the extension \.xyz"):
        show_result(img, np.zeros((4, 4), np.int64), [[0, 0, 0]], out_file=str(tmp_path / 'x.xyz'))
    (tmp_path / 'f').write_text('')
    with pytest.raises(ValueError, match='cannot create the folder'):
        check_image_out_file(str(tmp_path / 'f' / 'y.png'), '--out')
    check_image_out_file(str(tmp_path / 'new' / 'ok.png'))
