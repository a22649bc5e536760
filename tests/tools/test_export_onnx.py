"""tools/export_onnx.py: SegNeXt-T exports without random ops and onnxruntime agrees with PyTorch."""
import re
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from mmseg.apis import init_segmentor  # noqa: E402
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py')
SHALLOW = ['model.backbone.depths=[1,1,1,1]']


def load_tool():
    return load_script('tools/export_onnx.py')


def random_checkpoint(path: Path, cfg_options=None) -> str:
    """Non-trivial weights (random BN statistics, larger conv_seg) so the argmax is not a near tie everywhere."""
    sys.path.insert(0, str(ROOT / 'tests'))
    from conftest import randomize_
    model = randomize_(init_segmentor(CONFIG, cfg_options=cfg_options, fuse=False), seed=1)
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def parse_report(out: str):
    found = re.findall(r'at (\d+)x(\d+): max \|Δ\| \w+ = ([\d.e+-]+), argmax agreement = ([\d.]+) %', out)
    return [((int(h), int(w)), float(d), float(a)) for h, w, d, a in found]


def test_full_tiny_static_export(tmp_path, capsys):
    """The real SegNeXt-T at 256x256 (legacy TorchScript exporter: the faster of the two on CPU)."""
    tool = load_tool()
    ckpt = random_checkpoint(tmp_path / 't.pth')
    out = tmp_path / 't.onnx'
    # The config asks for official per-call bases: the tool must switch to the deterministic ones.
    assert tool.main([CONFIG, ckpt, '--shape', '256', '--out', str(out), '--exporter', 'torchscript',
                      '--cfg-options', 'model.decode_head.nmf_eval_bases=official']) == 0
    report = parse_report(capsys.readouterr().out)
    assert [r[0] for r in report] == [(256, 256)]
    (max_abs, agreement), = [r[1:] for r in report]
    assert max_abs <= tool.MAX_ABS_DIFF and agreement >= 100 * tool.MIN_AGREEMENT
    ops = tool.check_graph(str(out))
    assert not set(ops) & tool.RANDOM_OPS and 'Conv' in ops and 'MatMul' in ops


def test_dynamic_export_two_sizes(tmp_path, capsys):
    """torch.export-based exporter with dynamic height/width, checked at two sizes."""
    pytest.importorskip('onnxscript')
    tool = load_tool()
    ckpt = random_checkpoint(tmp_path / 's.pth', {'model.backbone.depths': [1, 1, 1, 1]})
    out = tmp_path / 'dyn.onnx'
    assert tool.main([CONFIG, ckpt, '--shape', '128', '128', '--dynamic', '--out', str(out),
                      '--verify-shapes', '128', '128', '96', '160', '--cfg-options'] + SHALLOW) == 0
    report = parse_report(capsys.readouterr().out)
    assert [r[0] for r in report] == [(128, 128), (96, 160)]
    for _, max_abs, agreement in report:
        assert max_abs <= tool.MAX_ABS_DIFF and agreement >= 100 * tool.MIN_AGREEMENT


def test_check_graph_rejects_random_and_foreign_ops(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    tool = load_tool()

    def save(node, name):
        graph = helper.make_graph([node], 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4])],
                                  [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 4])])
        opsets = [helper.make_opsetid('', 17)] + ([helper.make_opsetid(node.domain, 1)] if node.domain else [])
        model = helper.make_model(graph, opset_imports=opsets)
        path = tmp_path / name
        onnx.save(model, path)
        return str(path)

    with pytest.raises(tool.ExportError, match='RandomUniformLike'):
        tool.check_graph(save(helper.make_node('RandomUniformLike', ['x'], ['y']), 'rand.onnx'))
    with pytest.raises(tool.ExportError, match='com.microsoft::Gelu'):
        tool.check_graph(save(helper.make_node('Gelu', ['x'], ['y'], domain='com.microsoft'), 'ms.onnx'))
    assert tool.check_graph(save(helper.make_node('Relu', ['x'], ['y']), 'ok.onnx')) == ['Relu']


@pytest.mark.slow
def test_static_export_then_test_on_other_sizes(tmp_path, capfd):
    """tools/export_onnx.py's default export prints no opset warning; tools/test.py on images that reach the
    network at another size than the static graph's stops with one error naming both sizes and --dynamic."""
    pytest.importorskip('onnxscript')
    import warnings
    from mmseg.datasets import generate_demo_dataset
    root = generate_demo_dataset(str(tmp_path / 'demo'), num_train=2, num_val=2, size=(48, 64))
    demo = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.demo.py'
    cfg = tmp_path / 'demo.py'
    cfg.write_text(f"_base_ = ['{demo}']\nmodel = dict(backbone=dict(depths=[1, 1, 1, 1]))\n"
                   f"data = dict(val=dict(data_root='{root}'), test=dict(data_root='{root}'))\n")
    torch.manual_seed(0)
    torch.save({'state_dict': init_segmentor(str(cfg), fuse=False).state_dict()}, tmp_path / 'w.pth')
    out = tmp_path / 'model.onnx'
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert load_tool().main([str(cfg), str(tmp_path / 'w.pth'), '--shape', '96', '96', '--out', str(out)]) == 0
    err = capfd.readouterr().err
    assert 'opset' not in err.lower() and 'version conver' not in err.lower(), err
    assert not [w for w in caught if 'opset' in str(w.message).lower()]
    test_tool = load_script('tools/test.py')
    with pytest.raises(SystemExit) as e:
        test_tool.main([str(cfg), str(out), '--backend', 'onnxruntime', '--eval', 'mIoU',
                        '--work-dir', str(tmp_path / 'w')])
    msg = str(e.value)
    assert 'model.onnx was exported for 96x96 inputs' in msg and '--dynamic' in msg and 'slide' in msg, msg
