"""tools/convert_checkpoint.py: official → mmseg → ours round trip keeps every tensor, renaming only dwconv."""
from pathlib import Path

import pytest
import torch

from mmseg.models import build_segmentor, load_checkpoint
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    return load_script('tools/convert_checkpoint.py')


def test_round_trip(tmp_path, tiny_cfg):
    tool = load_tool()
    model = build_segmentor(tiny_cfg)
    official = {f'module.{k}': v.clone() + i for i, (k, v) in enumerate(model.state_dict().items())}
    torch.save({'meta': {'iter': 7}, 'state_dict': official}, tmp_path / 'official.pth')

    assert tool.main([str(tmp_path / 'official.pth'), str(tmp_path / 'mmseg.pth'), '--layout', 'mmseg']) == 0
    mmseg_sd = torch.load(tmp_path / 'mmseg.pth', weights_only=True)['state_dict']
    assert not any('.mlp.dwconv.dwconv.' in k for k in mmseg_sd)
    n_dw = sum('.mlp.dwconv.dwconv.' in k for k in official)
    assert n_dw == 2 * 4 and sum('.mlp.dwconv.' in k for k in mmseg_sd) == n_dw  # weight + bias per block

    assert tool.main([str(tmp_path / 'mmseg.pth'), str(tmp_path / 'ours.pth')]) == 0
    ours = torch.load(tmp_path / 'ours.pth', weights_only=True)['state_dict']
    expected = {k[len('module.'):]: v for k, v in official.items()}
    assert list(ours) == list(expected)
    for key, value in expected.items():
        assert torch.equal(ours[key], value), key

    fresh = build_segmentor(tiny_cfg)
    load_checkpoint(fresh, str(tmp_path / 'ours.pth'))
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in expected.items())


def test_refuses_to_overwrite_source(tmp_path):
    src = tmp_path / 'a.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}}, src)
    with pytest.raises(SystemExit):
        load_tool().main([str(src), str(src)])
    assert torch.load(src, weights_only=True)['state_dict']['w'].shape == (1,)
