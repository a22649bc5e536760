"""tools/quantize.py: INT8 calibration on the config's dataset, Hamburger kept in float, the accuracy gate, for
onnxruntime (static QDQ) and OpenVINO (NNCF)."""
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip('onnxruntime')

from mmseg.apis import inference_segmentor, init_segmentor  # noqa: E402
from tests.conftest import load_script  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.demo.py'


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """A 12/6-image demo dataset, a shallow demo config pointing at it, and weights with BN calibrated on it."""
    from mmseg.datasets.demo import generate_demo_dataset
    from mmseg.deploy.calibration import calibrate_bn
    from mmseg.deploy.quantize import dataset_images
    tmp = tmp_path_factory.mktemp('quant')
    generate_demo_dataset(str(tmp / 'demo'), num_train=12, num_val=6, size=(64, 64))
    cfg = tmp / 'demo_shallow.py'
    cfg.write_text(f"_base_ = ['{DEMO}']\nmodel = dict(backbone=dict(depths=[1, 1, 1, 1]))\n"
                   f"data_root = '{tmp / 'demo'}'\n"
                   f"data = dict(train=dict(data_root=data_root), val=dict(data_root=data_root), "
                   f"test=dict(data_root=data_root))\n")
    torch.manual_seed(0)
    model = init_segmentor(str(cfg), fuse=False)
    tool = load_script('tools/quantize.py')
    calib_set, _ = tool._datasets(model.cfg)
    calibrate_bn(model, dataset_images(calib_set, 12))
    ckpt = tmp / 'demo.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return tool, str(cfg), str(ckpt), tmp


def test_quantize_writes_gated_int8_model(demo, capsys, monkeypatch):
    tool, cfg, ckpt, tmp = demo
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp / 'cache'))
    out = tmp / 'int8.onnx'
    assert tool.main([cfg, ckpt, '--calib', '4', '--out', str(out), '--max-drop', '100', '--threads', '1']) == 0
    text = capsys.readouterr().out
    m = re.search(r'mIoU fp32 ([\d.]+), int8 ([\d.]+), drop (-?[\d.]+) .*pixel agreement ([\d.]+) %', text)
    assert m, text
    ref, got, drop, agree = map(float, m.groups())
    assert abs(ref - got - drop) < 0.011 and 0 <= agree <= 100
    assert out.is_file() and not Path(str(out) + '.candidate.onnx').exists()

    import onnx
    graph = onnx.load(str(out)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == 'DequantizeLinear'}
    ham = [n for n in graph.node if '/decode_head/hamburger/' in n.name and 'QuantizeLinear' not in n.op_type]
    convs = [n for n in graph.node if n.op_type == 'Conv' and '/hamburger/' not in n.name]
    assert dequantized and ham and convs
    # the convolutions outside the Hamburger read int8 tensors; no Hamburger node does (it stays fp32)
    assert all(set(n.input) & dequantized for n in convs)
    assert not any(set(n.input) & dequantized for n in ham)
    # The written model is the gated one and runs behind the same API: over the same validation images,
    # init_segmentor(.., 'int8.onnx', backend='onnxruntime') reproduces the printed pixel agreement.
    fp32 = init_segmentor(cfg, ckpt, backend='onnxruntime')
    int8 = init_segmentor(cfg, str(out), backend='onnxruntime')
    imgs = [str(p) for p in sorted((tmp / 'demo' / 'images' / 'validation').glob('*.jpg'))]
    a, b = inference_segmentor(fp32, imgs), inference_segmentor(int8, imgs)
    same = sum(int((x == y).sum()) for x, y in zip(a, b)) / sum(x.size for x in a)
    assert abs(100 * same - agree) < 0.01


def test_gate_refuses_to_write(demo, capsys, monkeypatch):
    tool, cfg, ckpt, tmp = demo
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp / 'cache'))
    from mmseg.deploy import quantize
    real_gate = quantize.accuracy_gate

    def worse(*a, **k):  # the real gate's numbers, shifted: int8 2 points below fp32
        r = real_gate(*a, **k)
        return dict(r, miou=r['ref_miou'] - 2.0, drop=2.0)
    monkeypatch.setattr(quantize, 'accuracy_gate', worse)
    out = tmp / 'refused.onnx'
    assert tool.main([cfg, ckpt, '--calib', '2', '--out', str(out), '--threads', '1']) == 1
    assert 'REFUSED: mIoU drop 2.00 > --max-drop 0.50' in capsys.readouterr().out
    assert not out.exists() and not Path(str(out) + '.candidate.onnx').exists()


def test_onnxruntime_ranges_average_the_images(demo, tmp_path):
    """An activation's range is each calibration image's min/max averaged over the images: an image of five times
    the contrast widens the input's range by its share, not to its own extremes."""
    import onnx
    from onnx import numpy_helper
    from mmseg.deploy.quantize import quantize_int8
    _, cfg, ckpt, _ = demo
    graph = init_segmentor(cfg, ckpt, backend='onnxruntime').runtime.graph.path((1, 3, 128, 128))
    torch.manual_seed(0)
    low = torch.rand(1, 3, 128, 128) * 2 - 1
    high = low * 5
    g = onnx.load(quantize_int8(graph, str(tmp_path / 'q.onnx'), [low, high], reduce_range=False)).graph
    q = next(n for n in g.node if n.op_type == 'QuantizeLinear' and n.input[0] == g.input[0].name)
    scale = float(next(numpy_helper.to_array(i) for i in g.initializer if i.name == q.input[1]))
    mean_min, mean_max = (low.min() + high.min()) / 2, (low.max() + high.max()) / 2  # about -3 and 3
    assert scale == pytest.approx(float(mean_max - mean_min) / 255, rel=1e-4)  # the extremes would give 10 / 255


def _int8_weight_peak(path):
    """The largest |value| among the model's int8 weight tensors (7-bit weights stay within 64)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    arrays = [numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer]
    return max(int(np.abs(a.astype(np.int32)).max()) for a in arrays if a.dtype == np.int8 and a.size > 1)


def test_weight_bits_by_cpu_or_as_asked(demo, capsys, monkeypatch):
    """Without VNNI/AMX the tool writes 7-bit weights unless --weight-bits 8 asks for the full range."""
    tool, cfg, ckpt, tmp = demo
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp / 'cache'))
    from mmseg.deploy import cpu
    monkeypatch.setattr(cpu, 'has_vnni', lambda: False)
    out = tmp / 'bits' / 'int8.onnx'
    argv = [cfg, ckpt, '--calib', '4', '--out', str(out), '--max-drop', '100', '--threads', '1']
    assert tool.main(argv) == 0
    assert 'weights: 7 bits (the CPU has no VNNI/AMX' in capsys.readouterr().out
    assert _int8_weight_peak(str(out)) <= 64
    assert tool.main(argv + ['--weight-bits', '8']) == 0
    assert 'weights: 8 bits (as asked)' in capsys.readouterr().out
    assert _int8_weight_peak(str(out)) > 64


def test_bad_arguments(demo, capsys):
    tool, cfg, ckpt, _ = demo
    for argv, msg in (([cfg, ckpt, '--calib', '0'], '--calib must be >= 1'),
                      ([cfg, ckpt, '--max-drop', '-1'], '--max-drop must be >= 0'),
                      ([cfg, 'missing.pth'], 'missing.pth does not exist'),
                      ([cfg, ckpt, '--runtime', 'openvino', '--out', 'x.onnx'], 'a openvino INT8 model is a .xml'),
                      ([cfg, ckpt, '--runtime', 'openvino', '--accuracy-control', '-1'],
                       '--accuracy-control must be >= 0'),
                      ([cfg, ckpt, '--accuracy-control', '8'], '--accuracy-control needs --runtime openvino'),
                      ([cfg, ckpt, '--preset', 'performance'], '--preset needs --runtime openvino'),
                      ([cfg, ckpt, '--runtime', 'openvino', '--preset', 'fast'], "invalid choice: 'fast'")):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
        assert msg in capsys.readouterr().err


def test_saturation_guard_by_cpu(monkeypatch):
    """7-bit weights exactly where the CPU lacks VNNI/AMX, and the tool says why."""
    from mmseg.deploy import cpu, quantize
    monkeypatch.setattr(cpu, 'has_vnni', lambda: False)
    reduce, why = quantize.saturation_guard()
    assert reduce and 'no VNNI/AMX' in why and 'saturate' in why
    monkeypatch.setattr(cpu, 'has_vnni', lambda: True)
    reduce, why = quantize.saturation_guard()
    assert not reduce and 'VNNI/AMX' in why
    assert quantize.saturation_guard(True) == (True, 'as asked')


def test_openvino_int8_gated(demo, capsys, monkeypatch):
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    tool, cfg, ckpt, tmp = demo
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp / 'cache'))
    from mmseg.deploy.openvino_core import shared_core, signal_stack
    shared_core().get_property('CPU', 'FULL_DEVICE_NAME')  # its CPU plugin (and signal stack) exist before
    stack = signal_stack()
    out = tmp / 'ov' / 'int8.xml'
    assert tool.main([cfg, ckpt, '--runtime', 'openvino', '--calib', '4', '--out', str(out), '--max-drop', '100',
                      '--threads', '1']) == 0
    # the outcome on NNCF's real path (keep_signal_stack itself: tests/deploy/test_openvino_core.py)
    assert signal_stack() == stack
    text = capsys.readouterr().out
    m = re.search(r'\(openvino\): mIoU fp32 ([\d.]+), int8 ([\d.]+), drop (-?[\d.]+) .*pixel agreement ([\d.]+) %',
                  text)
    assert m, text
    assert out.is_file() and out.with_suffix('.bin').is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ['int8.bin', 'int8.xml']  # no candidate left behind
    ops = shared_core().read_model(str(out)).get_ops()
    fq = [op for op in ops if op.get_type_name() == 'FakeQuantize']
    assert fq  # quantized ...
    # ... but nothing inside the Hamburger: no FakeQuantize feeds one of its ops
    ham = [op for op in ops if '/decode_head/hamburger/' in op.get_friendly_name()
           and op.get_type_name() != 'FakeQuantize']
    assert ham and not any(inp.get_source_output().get_node().get_type_name() == 'FakeQuantize'
                           for op in ham for inp in op.inputs())
    # the written IR runs behind the same API and reproduces the printed agreement
    fp32 = init_segmentor(cfg, ckpt, backend='openvino')
    int8 = init_segmentor(cfg, str(out), backend='openvino')
    assert int8.runtime.precision == 'int8'
    imgs = [str(p) for p in sorted((tmp / 'demo' / 'images' / 'validation').glob('*.jpg'))]
    a, b = inference_segmentor(fp32, imgs), inference_segmentor(int8, imgs)
    same = sum(int((x == y).sum()) for x, y in zip(a, b)) / sum(x.size for x in a)
    assert abs(100 * same - float(m.group(4))) < 0.01


def test_labelled_images_score():
    """mIoU in percent over the classes present, per image and over the set, labels taken from resized logits."""
    import numpy as np
    from mmseg.deploy.quantize import LabelledImages
    gt_a = np.zeros((8, 8), np.uint8)
    gt_a[:, 4:] = 1
    gt_b = np.full((8, 8), 255, np.uint8)  # ignored everywhere but one row of class 2
    gt_b[0] = 2
    data = LabelledImages([np.zeros((1, 3, 8, 8), np.float32)] * 2, [gt_a, gt_b], num_classes=3)

    def onehot(gt):  # logits at half the label size whose argmax after upsampling is ``gt``'s class per 2x2 cell
        x = torch.full((1, 3, 4, 4), -5.0)
        cells = torch.as_tensor(gt[::2, ::2].astype(np.int64)).clamp(max=2)
        x.scatter_(1, cells[None, None], 5.0)
        return x
    answers = iter([onehot(gt_a), onehot(gt_b)])
    miou, per_image = data.score(lambda img: next(answers))
    assert miou == pytest.approx(100) and per_image == pytest.approx([100, 100])
    answers = iter([torch.zeros(1, 3, 4, 4), onehot(gt_b)])  # all class 0 on image a: IoU 0 0.5, class 1 0
    miou, per_image = data.score(lambda img: next(answers))
    assert per_image == pytest.approx([25, 100])
    assert miou == pytest.approx(100 * (0.5 + 0 + 1) / 3)


def _own_label_control(demo, count=8):
    """(fp32 graph, calibration images, ``drop(model)``, control images labelled by fp32 itself): scored against
    fp32's own labels, fp32 is 100 mIoU and ``drop`` is what quantization costs."""
    from mmseg.deploy.openvino_core import shared_core
    from mmseg.deploy.quantize import LabelledImages, dataset_images
    from mmseg.models.segmentors.labels import upsample_argmax
    tool, cfg, ckpt, tmp = demo
    model = init_segmentor(cfg, ckpt, backend='openvino')
    calib_set, _ = tool._datasets(model.cfg)
    calib = dataset_images(calib_set, 4)
    graph = model.runtime.graph.path((1, *calib[0].shape[2:]))

    def compiled(path_or_model):
        return shared_core().compile_model(path_or_model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    images = [t.numpy() for t in dataset_images(calib_set, count)]
    fp32 = compiled(graph)
    own_labels = [upsample_argmax(torch.from_numpy(fp32(x)[0]), x.shape[2:], False)[0].numpy() for x in images]
    control = LabelledImages(images, own_labels, num_classes=4)

    def drop(path_or_model):
        run = compiled(path_or_model)
        return 100 - control.score(lambda x: run(x)[0])[0]
    assert drop(graph) == pytest.approx(0)
    return graph, calib, drop, control


def _fake_quantize_ops(path):
    from mmseg.deploy.openvino_core import shared_core
    return sum(op.get_type_name() == 'FakeQuantize' for op in shared_core().read_model(path).get_ops())


def test_accuracy_control_keeps_the_better_of_plain_and_controlled(demo):
    """NNCF's restorer can end worse than the plain quantization it started from; better_on keeps whichever scores
    higher on the control images (plain on a tie)."""
    pytest.importorskip('openvino')
    nncf = pytest.importorskip('nncf')
    from mmseg.deploy.openvino_core import shared_core
    from mmseg.deploy.quantize import HAMBURGER_SCOPE, better_on
    graph, calib, drop, control = _own_label_control(demo)
    scope = nncf.IgnoredScope(patterns=[f'.*{HAMBURGER_SCOPE}.*'])

    def quantized(images):
        return nncf.quantize(shared_core().read_model(graph), nncf.Dataset([x.numpy() for x in images]),
                             subset_size=len(images), ignored_scope=scope)
    plain = quantized(calib)
    worse = quantized([torch.zeros_like(calib[0]) + 0.01])  # activation ranges of a flat image
    fp32 = shared_core().read_model(graph)
    assert drop(worse) > drop(plain) > drop(fp32) == pytest.approx(0)
    assert better_on(control, plain, worse) is plain
    assert better_on(control, plain, fp32) is fp32
    assert better_on(control, plain, quantized(calib)) is plain  # equal scores: plain


@pytest.mark.slow
def test_openvino_accuracy_control_restores_float_ops(demo):
    """The plain INT8 model loses more than 1 point on fp32's own labels; accuracy control (``max_drop=1``, two
    steps: the ranking of the ops costs a compile per op, 3-6 minutes on one thread) returns a model that
    loses no more on those images, with ops back in float when it is the controlled one. With NNCF's performance
    preset, the controlled model won on the AVX512 Xeon (2 threads) and lost more than the plain one on
    an AVX2 EPYC with one thread per xdist worker (5.56 vs 5.52, before better_on)."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    from mmseg.deploy.quantize import quantize_openvino
    graph, calib, drop, control = _own_label_control(demo)
    _, _, _, tmp = demo
    plain = quantize_openvino(graph, str(tmp / 'plain.xml'), calib)
    kept = quantize_openvino(graph, str(tmp / 'control.xml'), calib, control=control, max_drop=1.0,
                             max_restored=2)
    plain_drop, kept_drop = drop(plain), drop(kept)
    assert plain_drop > 1.0
    assert kept_drop <= plain_drop
    if kept_drop < plain_drop:
        assert 0 < _fake_quantize_ops(kept) < _fake_quantize_ops(plain)
    else:
        assert _fake_quantize_ops(kept) == _fake_quantize_ops(plain)


def test_labelled_images_from_dataset(demo):
    """Evenly spaced test-mode samples with their label maps and the dataset's scoring settings."""
    from mmseg.deploy.quantize import LabelledImages
    tool, cfg, ckpt, _ = demo
    calib_set, _ = tool._datasets(init_segmentor(cfg, ckpt).cfg)
    data = LabelledImages.from_dataset(calib_set, 3)
    assert len(data.images) == len(data.gts) == 3
    # images through the test pipeline (64² demo images scaled to 128²), labels at the original size
    assert all(x.shape == (1, 3, 128, 128) and g.shape == (64, 64) for x, g in zip(data.images, data.gts))
    assert (data.num_classes, data.reduce_zero_label) == (len(calib_set.CLASSES), calib_set.reduce_zero_label)


def _activation_ranges(path):
    """(input_low, input_high) of each FakeQuantize on an activation (a weight's reads a constant)."""
    from mmseg.deploy.openvino_core import shared_core

    def const(op_input):
        node = op_input.get_source_output().get_node()
        while node.get_type_name() == 'Convert':
            node = node.input(0).get_source_output().get_node()
        return node.get_data() if node.get_type_name() == 'Constant' else None
    out = []
    for op in shared_core().read_model(path).get_ops():
        if op.get_type_name() == 'FakeQuantize' and const(op.input(0)) is None:
            out.append((float(const(op.input(1)).min()), float(const(op.input(2)).max())))
    return out


def test_openvino_preset_sets_the_activation_scheme(demo):
    """'performance' (NNCF's default) gives every activation a grid symmetric about zero (or from zero, for
    non-negative ones); 'mixed', our default, fits asymmetric ranges to activations that are not."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    from mmseg.deploy.quantize import quantize_openvino
    graph, calib, _, _ = _own_label_control(demo, count=1)
    _, _, _, tmp = demo

    def symmetric(low, high):
        return low == 0 or low == pytest.approx(-high, rel=0.01)  # signed: -high * 128/127
    ranges = {}
    for preset in ('performance', 'mixed'):
        ranges[preset] = _activation_ranges(quantize_openvino(graph, str(tmp / f'{preset}.xml'), calib,
                                                              preset=preset))
    assert ranges['performance'] and all(symmetric(*r) for r in ranges['performance'])
    assert len(ranges['mixed']) == len(ranges['performance'])
    assert sum(not symmetric(*r) for r in ranges['mixed']) > len(ranges['mixed']) // 2
    with pytest.raises(ValueError, match="preset must be one of .*got 'fast'"):
        quantize_openvino(graph, str(tmp / 'x.xml'), calib, preset='fast')


def test_openvino_quantize_rejects_bad_control(tmp_path):
    """Refused before any export or calibration work, naming the value."""
    from mmseg.deploy.quantize import LabelledImages, quantize_openvino
    with pytest.raises(ValueError, match='needs labelled images'):
        quantize_openvino('g.onnx', str(tmp_path / 'q.xml'), [], control=LabelledImages([], [], 4))
    with pytest.raises(ValueError, match='max_restored must be >= 0, got -1'):
        quantize_openvino('g.onnx', str(tmp_path / 'q.xml'), [], max_restored=-1)
