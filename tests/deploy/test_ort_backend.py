"""backend='onnxruntime' and 'auto' predict the PyTorch path's labels on real photos (BN calibrated on them), in
whole and slide mode, with the graph exported once and cached; .onnx checkpoints run as is."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('skimage')

from mmseg.apis import inference_segmentor, init_segmentor  # noqa: E402
from mmseg.deploy.calibration import calibrate_bn, sample_photos  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py'
# Shallow T (one block per stage) with a small test scale: the real architecture's ops, test-suite speed.
CONFIG = f'''_base_ = ['{BASE}']
model = dict(backbone=dict(depths=[1, 1, 1, 1]))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiScaleFlipAug', img_scale=(256, 128), flip=False,
         transforms=[dict(type='Resize', keep_ratio=True), dict(type='ResizeToMultiple', size_divisor=32),
                     dict(type='RandomFlip'),
                     dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                          to_rgb=True),
                     dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])]
data = dict(test=dict(pipeline=test_pipeline), val=dict(pipeline=test_pipeline))
'''
MAX_DIFF_FRACTION = 1e-4  # float-rounding ties between two runtimes; measured 0 on these photos


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ort')
    cfg = tmp / 'shallow_t.py'
    cfg.write_text(CONFIG)
    photos = [p[::3, ::3].copy() for p in sample_photos(('astronaut', 'coffee', 'chelsea'))]
    torch.manual_seed(0)
    model = init_segmentor(str(cfg), fuse=False)
    from mmseg.apis.inference import build_test_pipeline
    from mmseg.datasets import collate
    pipeline = build_test_pipeline(model.cfg)
    calibrate_bn(model, [collate([pipeline(dict(img=p))])['img'][0] for p in photos])
    ckpt = tmp / 'calibrated.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    os.environ['SEGNEXT_CACHE_DIR'] = str(tmp / 'cache')
    yield str(cfg), str(ckpt), photos, tmp / 'cache' / 'onnx'
    os.environ.pop('SEGNEXT_CACHE_DIR', None)


def assert_same_labels(got, ref):
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        assert (g != r).mean() <= MAX_DIFF_FRACTION, f'{(g != r).sum()} of {r.size} labels differ'


@pytest.mark.parametrize('mode', ['whole', pytest.param('slide', marks=pytest.mark.slow)])  # slide: 2nd export
def test_onnxruntime_equals_pytorch(setup, mode):
    cfg, ckpt, photos, cache = setup
    opts = {'model.test_cfg': dict(mode='slide', crop_size=(96, 96), stride=(64, 64))} if mode == 'slide' else None
    photos = photos if mode == 'whole' else photos[:1]
    ref = inference_segmentor(init_segmentor(cfg, ckpt, cfg_options=opts, fuse=False), photos)
    assert len({len(np.unique(r)) for r in ref}) and all(len(np.unique(r)) > 1 for r in ref)  # not degenerate
    model = init_segmentor(cfg, ckpt, cfg_options=opts, backend='onnxruntime')
    assert not list(model.parameters())
    assert_same_labels(inference_segmentor(model, photos), ref)
    assert_same_labels(inference_segmentor(init_segmentor(cfg, ckpt, cfg_options=opts, backend='auto'), photos), ref)


def test_cache_reused_and_keyed_by_weights(setup, tmp_path):
    cfg, ckpt, photos, cache = setup
    first = init_segmentor(cfg, ckpt, backend='onnxruntime')
    first.session_for((1, 64, 64))
    path = Path(first.graph_path())
    assert path.parent == cache and path.is_file()
    files, mtime = sorted(cache.glob('*.onnx')), path.stat().st_mtime_ns
    model = init_segmentor(cfg, ckpt, backend='onnxruntime')
    model.session_for((1, 64, 64))
    assert model.graph_path() == str(path)
    assert sorted(cache.glob('*.onnx')) == files and path.stat().st_mtime_ns == mtime  # no re-export
    # other weights: another key
    state = torch.load(ckpt, weights_only=True)['state_dict']
    state['decode_head.conv_seg.bias'] += 1
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': state}, other)
    assert init_segmentor(cfg, str(other), backend='onnxruntime').graph_path() != model.graph_path()
    # static shape mode: one graph per input shape, equal labels
    static = init_segmentor(cfg, ckpt, backend='onnxruntime', shape_mode='static')
    assert_same_labels(inference_segmentor(static, photos[:1]), inference_segmentor(model, photos[:1]))
    assert static.graph_path((1, 64, 96)).endswith('-1x64x96.onnx')


def test_onnx_checkpoint_runs_as_is(setup):
    cfg, ckpt, photos, cache = setup
    model = init_segmentor(cfg, ckpt, backend='onnxruntime')
    ref = inference_segmentor(model, photos[:2])
    graph = model.graph_path()
    assert inference_segmentor(init_segmentor(cfg, graph, backend='auto'), photos[:2])[0].shape == ref[0].shape
    assert_same_labels(inference_segmentor(init_segmentor(cfg, graph, backend='onnxruntime'), photos[:2]), ref)


def test_bad_backend_arguments(setup):
    cfg, ckpt, _, _ = setup
    with pytest.raises(ValueError, match='backend must be one of'):
        init_segmentor(cfg, ckpt, backend='tensorrt')
    with pytest.raises(ValueError, match='CPU only'):
        init_segmentor(cfg, ckpt, device='cuda', backend='onnxruntime')
    with pytest.raises(ValueError, match='ONNX graph'):
        init_segmentor(cfg, 'model.onnx', backend='pytorch')
    with pytest.raises(FileNotFoundError, match='missing.onnx'):
        init_segmentor(cfg, 'missing.onnx', backend='onnxruntime')
