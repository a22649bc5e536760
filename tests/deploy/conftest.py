"""A shallow SegNeXt-T with BN statistics calibrated on real photos (labels follow image structure), shared by the
runtime tests."""
import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py'
# Shallow T (one block per stage) with a small test scale: the real architecture's ops, test-suite speed.
SHALLOW_CONFIG = f'''_base_ = ['{BASE}']
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


@pytest.fixture(scope='package')
def calibrated(tmp_path_factory):
    """(config path, checkpoint path, three photos, graph cache folder); SEGNEXT_CACHE_DIR points into tmp."""
    pytest.importorskip('skimage')
    from mmseg.apis import init_segmentor
    from mmseg.apis.segmenter import build_test_pipeline
    from mmseg.datasets import collate
    from mmseg.deploy.calibration import calibrate_bn, sample_photos
    tmp = tmp_path_factory.mktemp('runtimes')
    cfg = tmp / 'shallow_t.py'
    cfg.write_text(SHALLOW_CONFIG)
    photos = [p[::3, ::3].copy() for p in sample_photos(('astronaut', 'coffee', 'chelsea'))]
    torch.manual_seed(0)
    model = init_segmentor(str(cfg), fuse=False)
    pipeline = build_test_pipeline(model.cfg)
    calibrate_bn(model, [collate([pipeline(dict(img=p))])['img'][0] for p in photos])
    ckpt = tmp / 'calibrated.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    old = os.environ.get('SEGNEXT_CACHE_DIR')
    os.environ['SEGNEXT_CACHE_DIR'] = str(tmp / 'cache')
    yield str(cfg), str(ckpt), photos, tmp / 'cache' / 'onnx'
    if old is None:
        os.environ.pop('SEGNEXT_CACHE_DIR', None)
    else:
        os.environ['SEGNEXT_CACHE_DIR'] = old
