"""mmseg.apis.inference: init_segmentor, inference_segmentor (test pipeline, original size), show_result."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmseg.apis import inference_segmentor, init_segmentor, show_result
from mmseg.datasets import ADE20KDataset
from mmseg.utils import Config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py')
# Shallow T; the test scale (96, 64) leaves a 64x96 image at its size (and a multiple of 32).
OPTS = {'model.backbone.depths': [1, 1, 1, 1], 'data.test.pipeline.1.img_scale': (96, 64)}


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    sys.path.insert(0, str(ROOT / 'tests'))
    from conftest import randomize_
    model = randomize_(init_segmentor(CONFIG, cfg_options=OPTS, fuse=False), seed=5)
    with torch.no_grad():  # random biases would let one class win everywhere
        model.decode_head.conv_seg.bias.zero_()
    path = tmp_path_factory.mktemp('ckpt') / 'm.pth'
    torch.save({'meta': {'CLASSES': [f'c{i}' for i in range(150)]}, 'state_dict': model.state_dict()}, path)
    return str(path), model.state_dict()


def test_init_segmentor(ckpt):
    path, state = ckpt
    model = init_segmentor(Config.fromfile(CONFIG), path, 'cpu', OPTS, fuse=False)
    assert not model.training
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    fused = init_segmentor(CONFIG, path, cfg_options=OPTS)  # the default folds BN / layer scale for speed
    assert type(fused.backbone.block1[0]).__name__ == 'FusedBlock'
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(fused.encode_decode(x), model.encode_decode(x), atol=1e-4)
    assert model.CLASSES[:2] == ['c0', 'c1']  # checkpoint meta wins
    assert model.PALETTE == [list(c) for c in ADE20KDataset.PALETTE]  # not in the meta: from the dataset
    plain = init_segmentor(CONFIG, cfg_options=OPTS)
    assert list(plain.CLASSES) == list(ADE20KDataset.CLASSES)
    assert plain.cfg.model.backbone.depths == [1, 1, 1, 1]


def test_inference_matches_direct_forward(ckpt):
    """A 64x96 image is not resized by the pipeline: the result is the argmax of the normalised RGB forward."""
    model = init_segmentor(CONFIG, ckpt[0], cfg_options=OPTS)
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (64, 96, 3)).astype(np.uint8)
    result = inference_segmentor(model, img)
    assert isinstance(result, list) and len(result) == 1 and result[0].shape == (64, 96)
    mean = np.array([123.675, 116.28, 103.53])
    std = np.array([58.395, 57.12, 57.375])
    x = torch.from_numpy(((img[..., ::-1] - mean) / std).astype(np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = model.encode_decode(x).argmax(1)[0].numpy()
    assert np.array_equal(result[0], expected)
    assert len(np.unique(expected)) > 1  # a degenerate constant map would make the check weak


def test_paths_arrays_and_sizes(ckpt, tmp_path):
    model = init_segmentor(CONFIG, ckpt[0], cfg_options=OPTS)
    rng = np.random.RandomState(1)
    a = rng.randint(0, 256, (50, 70, 3)).astype(np.uint8)
    b = rng.randint(0, 256, (33, 90, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), a)
    results = inference_segmentor(model, [str(tmp_path / 'a.png'), a, b])
    assert [r.shape for r in results] == [(50, 70), (50, 70), (33, 90)]
    assert np.array_equal(results[0], results[1])
    with pytest.raises(ValueError, match='uint8 BGR'):
        inference_segmentor(model, a[..., 0])


def test_show_result(tmp_path):
    img = np.full((10, 12, 3), 100, np.uint8)
    seg = np.zeros((10, 12), np.int64)
    seg[5:] = 1
    palette = [[255, 0, 0], [0, 0, 200]]  # RGB
    out = tmp_path / 'sub' / 'o.png'
    drawn = show_result(img, seg, palette, ['a', 'b'], out_file=str(out), opacity=0.5, legend=False)
    assert drawn.shape == (10, 12, 3)
    assert np.abs(drawn[0, 0].astype(int) - [50, 50, 177]).max() <= 1  # BGR of 0.5*100 + 0.5*(255, 0, 0)
    assert np.abs(drawn[9, 0].astype(int) - [150, 50, 50]).max() <= 1
    assert np.array_equal(cv2.imread(str(out)), drawn)


def test_config_without_pipeline():
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(OPTS)
    cfg.data.test.pipeline = []
    model = init_segmentor(cfg)
    with pytest.raises(KeyError, match='pipeline'):
        inference_segmentor(model, np.zeros((32, 32, 3), np.uint8))


def test_segmenter_is_what_init_segmentor_wraps(ckpt):
    """Segmenter.from_config carries cfg/classes/palette itself; init_segmentor returns its model with the 0.x
    attributes; both predict the same labels, and inference_segmentor takes either."""
    from mmseg.apis import Segmenter, build_inference_model
    seg = Segmenter.from_config(CONFIG, ckpt[0], cfg_options=OPTS)
    assert seg.classes[:2] == ['c0', 'c1'] and seg.palette == [list(c) for c in ADE20KDataset.PALETTE]
    assert not hasattr(seg.model, 'CLASSES') and not hasattr(seg.model, 'cfg')  # the model is not a bag
    assert seg.model.checkpoint_meta['CLASSES'][:2] == ['c0', 'c1']
    img = np.random.RandomState(2).randint(0, 256, (50, 70, 3)).astype(np.uint8)
    model = init_segmentor(CONFIG, ckpt[0], cfg_options=OPTS)
    assert model.CLASSES == seg.classes and model.cfg.model.backbone.depths == [1, 1, 1, 1]
    a, b = seg([img, img], batch_size=2), inference_segmentor(model, img)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[0])
    assert np.array_equal(inference_segmentor(seg, img)[0], b[0])
    # the builder alone: the same weights, eval mode, no runtime for fp32 PyTorch
    built = build_inference_model(CONFIG, ckpt[0], 'cpu', cfg_options=OPTS, fuse=False)
    assert not built.training and built.runtime is None
    assert all(torch.equal(built.state_dict()[k], v) for k, v in ckpt[1].items())


def test_runtime_seam_rejects_modules_and_non_callables():
    from mmseg.apis import build_inference_model
    model = build_inference_model(CONFIG, None, 'cpu', cfg_options=OPTS, fuse=False)
    with pytest.raises(TypeError, match='not the nn.Module'):
        model.use_runtime(torch.nn.Identity())
    with pytest.raises(TypeError, match='not callable'):
        model.use_runtime(3)
    x = torch.randn(1, 3, 64, 64)
    calls = []
    with torch.no_grad():
        plain = model.head_logits(x)
        model.use_runtime(lambda img: calls.append(img.shape) or plain)
        # every inference mode goes through the seam; the label step is the runtime one
        assert torch.equal(model.encode_decode(x), torch.nn.functional.interpolate(
            plain, size=(64, 64), mode='bilinear', align_corners=False))
        metas = [dict(ori_shape=(64, 64, 3), img_shape=(64, 64, 3), flip=False)]
        labels = model.simple_test(x, metas)[0]
    assert calls == [(1, 3, 64, 64)] * 2 and labels.shape == (64, 64)
    assert list(model.state_dict()) == list(model.use_runtime(None).state_dict())
