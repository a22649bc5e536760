"""tools/analyze_logs.py: JSON-lines parsing, PNG output and the errors for missing files and keys."""
import json
from pathlib import Path

import pytest
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def load_tool():
    return load_script('tools/analyze_logs.py')


def write_log(path: Path, loss_scale: float, with_val: bool = True) -> Path:
    lines = [{'env_info': 'torch 2.x', 'config': 'model = dict()'}]
    for it in range(50, 450, 50):
        lines.append({'mode': 'train', 'iter': it, 'lr': 6e-5, 'loss': loss_scale / it, 'decode.loss_ce': 0.5 / it,
                      'time': 0.3})
        if with_val and it % 200 == 0:
            lines.append({'mode': 'val', 'iter': it, 'mIoU': it / 1000, 'aAcc': 0.8})
    path.write_text('\n'.join(json.dumps(line) for line in lines) + '\n\n')
    return path


def test_load_log_skips_meta_and_collects_by_iter(tmp_path):
    tool = load_tool()
    series = tool.load_log(str(write_log(tmp_path / 'a.json', 2.0)))
    assert 'env_info' not in series and 'mode' not in series
    assert series['mIoU'] == ([200, 400], [0.2, 0.4])
    iters, losses = series['loss']
    assert iters == list(range(50, 450, 50)) and losses[0] == pytest.approx(2.0 / 50)


def test_main_writes_png(tmp_path):
    tool = load_tool()
    a = write_log(tmp_path / 'a.json', 2.0)
    b = write_log(tmp_path / 'b.json', 3.0, with_val=False)  # a key missing from one run is fine
    out = tmp_path / 'curves.png'
    assert tool.main([str(a), str(b), '--keys', 'loss', 'mIoU', '--out', str(out), '--legend', 'run a', 'run b',
                      '--title', 'SegNeXt']) == 0
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000


def test_errors_name_the_problem(tmp_path):
    tool = load_tool()
    a = write_log(tmp_path / 'a.json', 2.0)
    with pytest.raises(FileNotFoundError, match='missing.json'):
        tool.main([str(tmp_path / 'missing.json'), '--out', str(tmp_path / 'x.png')])
    with pytest.raises(ValueError, match=r"'mDice'.*available keys: \[.*'aAcc'.*'loss'"):
        tool.main([str(a), '--keys', 'loss', 'mDice', '--out', str(tmp_path / 'x.png')])
    with pytest.raises(ValueError, match='--legend has 2 names for 1 logs'):
        tool.main([str(a), '--legend', 'x', 'y', '--out', str(tmp_path / 'x.png')])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"mode": "train", "iter": 1, "loss": 1.0}\n{oops\n')
    with pytest.raises(ValueError, match='bad.json:2'):
        tool.main([str(bad), '--keys', 'loss', '--out', str(tmp_path / 'x.png')])
    assert not (tmp_path / 'x.png').exists()
