"""The onnxruntime runtime: plugged into a normal EncoderDecoder (whole and slide mode), the graph exported once
and cached, .onnx checkpoints run as is, a fixed-size graph refuses other sizes with a clear error."""
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')

from mmseg.apis import inference_segmentor, init_segmentor  # noqa: E402
from mmseg.deploy.ort_runtime import OrtRuntime, StaticShapeError  # noqa: E402
from mmseg.models.segmentors import EncoderDecoder  # noqa: E402

MAX_DIFF_FRACTION = 1e-4  # float-rounding ties between two runtimes; measured 0 on these photos


def assert_same_labels(got, ref):
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        assert (g != r).mean() <= MAX_DIFF_FRACTION, f'{(g != r).sum()} of {r.size} labels differ'


@pytest.mark.parametrize('mode', ['whole', pytest.param('slide', marks=pytest.mark.slow)])  # slide: 2nd export
def test_onnxruntime_equals_pytorch(calibrated, mode):
    cfg, ckpt, photos, cache = calibrated
    opts = {'model.test_cfg': dict(mode='slide', crop_size=(96, 96), stride=(64, 64))} if mode == 'slide' else None
    photos = photos if mode == 'whole' else photos[:1]
    ref = inference_segmentor(init_segmentor(cfg, ckpt, cfg_options=opts, fuse=False), photos)
    assert all(len(np.unique(r)) > 1 for r in ref)  # not degenerate
    model = init_segmentor(cfg, ckpt, cfg_options=opts, backend='onnxruntime')
    # a normal, fully constructed EncoderDecoder with the session plugged into its one seam
    assert type(model) is EncoderDecoder and isinstance(model.runtime, OrtRuntime)
    assert_same_labels(inference_segmentor(model, photos), ref)


def test_cache_reused_and_keyed_by_weights(calibrated, tmp_path):
    cfg, ckpt, photos, cache = calibrated
    first = init_segmentor(cfg, ckpt, backend='onnxruntime')
    path = Path(first.runtime.graph.path((1, 64, 64)))
    assert path.parent == cache and path.is_file()
    files, mtime = sorted(cache.glob('*.onnx')), path.stat().st_mtime_ns
    model = init_segmentor(cfg, ckpt, backend='onnxruntime')
    assert model.runtime.graph.path((1, 64, 64)) == str(path)
    assert sorted(cache.glob('*.onnx')) == files and path.stat().st_mtime_ns == mtime  # no re-export
    # other weights: another key
    state = torch.load(ckpt, weights_only=True)['state_dict']
    state['decode_head.conv_seg.bias'] += 1
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': state}, other)
    assert init_segmentor(cfg, str(other), backend='onnxruntime').runtime.graph.cached_path() != str(path)
    # static shape mode: one graph per input shape, equal labels
    static = init_segmentor(cfg, ckpt, backend='onnxruntime', shape_mode='static')
    assert_same_labels(inference_segmentor(static, photos[:1]), inference_segmentor(model, photos[:1]))
    assert static.runtime.graph.cached_path((1, 64, 96)).endswith('-1x64x96.onnx')


def test_onnx_checkpoint_runs_as_is(calibrated):
    cfg, ckpt, photos, cache = calibrated
    model = init_segmentor(cfg, ckpt, backend='onnxruntime')
    ref = inference_segmentor(model, photos[:2])
    graph = model.runtime.graph.cached_path()
    assert Path(graph).is_file()
    assert_same_labels(inference_segmentor(init_segmentor(cfg, graph, backend='auto'), photos[:2]), ref)
    assert_same_labels(inference_segmentor(init_segmentor(cfg, graph, backend='onnxruntime'), photos[:2]), ref)


def test_static_graph_names_the_sizes_and_the_fix(calibrated, tmp_path):
    """A graph exported for 64x64 meets a 64x96 input: one error naming both sizes and --dynamic; a batch of two
    on a batch-1 graph runs image by image with the batched labels."""
    from mmseg.deploy.onnx_export import export
    cfg, ckpt, photos, _ = calibrated
    path = tmp_path / 'static64.onnx'
    export(init_segmentor(cfg, ckpt, fuse=False), (64, 64), str(path), output='logits', exporter='torchscript')
    model = init_segmentor(cfg, str(path), backend='onnxruntime')
    with pytest.raises(StaticShapeError, match=r'exported for 64x64 inputs.*as 64x96.*--dynamic'):
        model.head_logits(torch.zeros(1, 3, 64, 96))
    x = torch.randn(2, 3, 64, 64)
    both = model.head_logits(x)
    assert both.shape[0] == 2 and torch.equal(both[1:], model.head_logits(x[1:]))


def test_bad_backend_arguments(calibrated):
    cfg, ckpt, _, _ = calibrated
    with pytest.raises(ValueError, match='backend must be one of'):
        init_segmentor(cfg, ckpt, backend='tensorrt')
    with pytest.raises(ValueError, match='CPU only'):
        init_segmentor(cfg, ckpt, device='cuda', backend='onnxruntime')
    with pytest.raises(ValueError, match='ONNX graph'):
        init_segmentor(cfg, 'model.onnx', backend='pytorch')
    with pytest.raises(FileNotFoundError, match='missing.onnx'):
        init_segmentor(cfg, 'missing.onnx', backend='onnxruntime')
    with pytest.raises(ValueError, match="precision='int8' comes from a quantized graph"):
        init_segmentor(cfg, ckpt, backend='onnxruntime', precision='int8')
