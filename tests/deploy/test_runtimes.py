"""Every runtime/precision predicts fp32 PyTorch's labels on real photos, within its named agreement threshold
(mmseg.deploy.agreement), through the same EncoderDecoder (test pipeline, rescale, label step)."""
import numpy as np
import pytest

from mmseg.apis import Segmenter, inference_segmentor, init_segmentor
from mmseg.deploy.agreement import label_agreement, min_agreement
from mmseg.deploy.backends import available
from mmseg.deploy.cpu import native_bf16

# Calibrated random weights have far more near-ties than a trained model: bf16 (8 mantissa bits) moves 1.2-1.3 % of
# these labels (measured 98.8 % PyTorch, 98.7 % OpenVINO), below the 99.5 % product gate that backend='auto' applies
# (so auto would exclude bf16 for this model: tests/deploy/test_auto.py). This bound checks that the runtime is right,
# not that bf16 is good enough here.
BF16_RUNTIME_AGREEMENT = 0.98
NO_BF16 = 'the CPU has no bf16 in hardware (AVX512-BF16/AMX): bf16 would be emulated, never chosen'
CASES = [
    ('pytorch', 'bf16'),
    ('onnxruntime', 'fp32'),
    ('openvino', 'fp32'),
    ('openvino', 'bf16'),
    # the first torch.compile of a model takes ~1 min on 2 cores
    pytest.param('compiled', 'fp32', marks=pytest.mark.slow),
]


@pytest.fixture(scope='module')
def reference(calibrated):
    cfg, ckpt, photos, _ = calibrated
    ref = inference_segmentor(init_segmentor(cfg, ckpt), photos)  # fused fp32 PyTorch, no runtime
    assert all(len(np.unique(r)) > 1 for r in ref)  # not degenerate
    return ref


@pytest.mark.parametrize('backend,precision', CASES)
def test_runtime_labels_equal_fp32_pytorch(calibrated, reference, backend, precision):
    if not available(backend):
        pytest.skip(f'{backend} is not installed (pip install -e .[deploy])')
    if precision == 'bf16' and not native_bf16():
        pytest.skip(NO_BF16)
    cfg, ckpt, photos, _ = calibrated
    seg = Segmenter.from_config(cfg, ckpt, backend=backend, precision=precision)
    assert seg.model.runtime is not None and seg.model.runtime.precision == precision
    assert seg.model.runtime.name == backend
    got = seg(photos)
    assert [g.shape for g in got] == [r.shape for r in reference]
    agree = label_agreement(got, reference)
    if precision == 'fp32':  # fp32 runtimes differ from PyTorch only by float rounding
        assert agree >= min_agreement(precision) and agree >= 0.9999, f'{backend}: {100 * agree:.3f} % equal'
    else:
        # < 1.0: bf16 really ran
        assert BF16_RUNTIME_AGREEMENT <= agree < 1.0, f"{backend}:bf16 labels {100 * agree:.3f} % equal"


def test_pytorch_fp32_has_no_runtime(calibrated):
    cfg, ckpt, _, _ = calibrated
    assert init_segmentor(cfg, ckpt).runtime is None
