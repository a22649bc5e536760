"""precision='bf16' (PyTorch autocast, NMF fp32) against the fp32 path, and the 'auto' bf16 decision."""
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('skimage')

from mmseg.apis import inference_segmentor, init_segmentor  # noqa: E402
from mmseg.deploy import precision  # noqa: E402
from mmseg.deploy.calibration import calibrate_bn, sample_photos  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bf16')
    cfg = tmp / 'shallow.py'
    cfg.write_text(f"_base_ = ['{BASE}']\nmodel = dict(backbone=dict(depths=[1, 1, 1, 1]))\n")
    photo = sample_photos(('astronaut',))[0][::4, ::4].copy()  # 128x128: the pipeline upsamples to 512
    torch.manual_seed(0)
    model = init_segmentor(str(cfg), fuse=False)
    x = torch.from_numpy(((photo[..., ::-1] - np.array([123.675, 116.28, 103.53])) /
                          np.array([58.395, 57.12, 57.375])).astype(np.float32)).permute(2, 0, 1)[None]
    calibrate_bn(model, [x])
    ckpt = tmp / 'w.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return str(cfg), str(ckpt), photo


def test_bf16_agrees_with_fp32(setup):
    cfg, ckpt, photo = setup
    small = {'data.test.pipeline.1.img_scale': (256, 128)}
    ref = inference_segmentor(init_segmentor(cfg, ckpt, cfg_options=small), photo)[0]
    model = init_segmentor(cfg, ckpt, cfg_options=small, precision='bf16')
    assert model.precision == 'bf16'
    got = inference_segmentor(model, photo)[0]
    assert got.shape == ref.shape and got.dtype == ref.dtype
    # bf16 keeps 8 bits of mantissa: labels move only where classes nearly tie
    assert (got == ref).mean() >= 0.95


def test_auto_never_enables_bf16_without_native_support(setup, monkeypatch):
    cfg, ckpt, _ = setup
    monkeypatch.setattr(precision, 'native_bf16', lambda: False)
    monkeypatch.setattr(precision, 'compare_bf16', lambda *a, **k: pytest.fail('must not measure'))
    assert not precision.bf16_wins(None)


def test_auto_decision_needs_speed_and_agreement(monkeypatch):
    monkeypatch.setattr(precision, 'native_bf16', lambda: True)
    for fp32_s, bf16_s, agree, expected in ((1.0, 0.5, 0.999, True), (1.0, 1.2, 0.999, False),
                                            (1.0, 0.5, 0.99, False)):
        monkeypatch.setattr(precision, 'compare_bf16',
                            lambda *a, **k: dict(fp32_s=fp32_s, bf16_s=bf16_s, agreement=agree))
        assert precision.bf16_wins(None) is expected


def test_precision_argument_checked():
    with pytest.raises(ValueError, match='precision must be one of'):
        init_segmentor(str(BASE), precision='fp8')
