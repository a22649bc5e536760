"""tools/quantize.py: INT8 calibration on the config's dataset, Hamburger kept fp32, the accuracy gate."""
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
    assert 'REFUSED: mIoU drop 2.00 > --max-drop 1.00' in capsys.readouterr().out
    assert not out.exists() and not Path(str(out) + '.candidate.onnx').exists()


def test_bad_arguments(demo, capsys):
    tool, cfg, ckpt, _ = demo
    for argv, msg in (([cfg, ckpt, '--calib', '0'], '--calib must be >= 1'),
                      ([cfg, ckpt, '--max-drop', '-1'], '--max-drop must be >= 0'),
                      ([cfg, 'missing.pth'], 'missing.pth does not exist')):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
        assert msg in capsys.readouterr().err
