"""tools/benchmark.py (JSON fields, not timings) and benchmarks/cpu_table.py (README rows from that JSON)."""
import json
from pathlib import Path

import pytest
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py'
TINY = ['--cfg-options', 'model.backbone.depths=[1,1,1,1]']


def load(rel: str, name: str):
    return load_script(rel)


@pytest.fixture(scope='module')
def bench_json(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench') / 'out.json'
    tool = load('tools/benchmark.py', '_tools_benchmark')
    assert tool.main([str(CONFIG), '--device', 'cpu', '--batch-sizes', '1', '2', '--shapes', '64x64', '64x96',
                      '--warmup', '1', '--iters', '2', '--threads', '1', '--json', str(out)] + TINY) == 0
    return out


def test_json_fields(bench_json):
    data = json.loads(bench_json.read_text())
    assert data['device'] == 'cpu' and data['threads'] == 1 and data['mode'] == 'whole'
    assert data['amp'] is None and data['channels_last'] is False and data['compile'] is False
    assert data['config'] == str(CONFIG)
    rows = data['results']
    assert [(r['shape'], r['batch_size']) for r in rows] == [([64, 64], 1), ([64, 64], 2), ([64, 96], 1),
                                                             ([64, 96], 2)]
    for r in rows:
        assert r['iters'] == 2 and r['warmup'] == 1
        assert r['memory_kind'] == 'process_rss_high_water'
        assert r['throughput_img_s'] > 0 and r['peak_memory_mib'] > 0
        assert 0 < r['latency_ms_min'] <= r['latency_ms_median'] <= r['latency_ms_p90']
        # throughput is batch * iters / total time, and the total is at least iters * min latency
        assert r['throughput_img_s'] <= r['batch_size'] / (r['latency_ms_min'] / 1e3) + 1e-6


def test_cpu_table_rows(bench_json, tmp_path):
    table = load('benchmarks/cpu_table.py', '_benchmarks_cpu_table')
    data = json.loads(bench_json.read_text())
    text = table.table([str(bench_json)], header=True)
    lines = text.strip().splitlines()
    assert lines[0] == table.HEADER and len(lines) == 2 + len(data['results'])
    first = [c.strip() for c in lines[2].strip('|').split('|')]
    r = data['results'][0]
    assert first[0] == 'segnext.tiny.512x512.ade.160k'
    assert first[2:6] == ['1', '64x64', '1', 'fp32']
    assert float(first[6]) == pytest.approx(r['throughput_img_s'], abs=0.006)
    broken = tmp_path / 'broken.json'
    broken.write_text(json.dumps({k: v for k, v in data.items() if k != 'threads'}))
    with pytest.raises(KeyError, match=r"broken\.json.*'threads'"):
        table.table([str(broken)])


def test_bad_shape_and_slide_without_crop(capsys):
    tool = load('tools/benchmark.py', '_tools_benchmark')
    with pytest.raises(SystemExit):
        tool.main([str(CONFIG), '--shapes', '64by64'])
    assert "HxW" in capsys.readouterr().err
    with pytest.raises(KeyError, match='crop_size'):
        tool.main([str(CONFIG), '--device', 'cpu', '--mode', 'slide', '--iters', '1'] + TINY)


def test_backends_all_prints_and_records_the_auto_table(tmp_path, capsys, monkeypatch):
    pytest.importorskip('onnxruntime')
    monkeypatch.setenv('SEGNEXT_CACHE_DIR', str(tmp_path / 'cache'))
    monkeypatch.setenv('SEGNEXT_AUTO_CANDIDATES', 'pytorch,onnxruntime')  # no compile: test-suite time
    tool = load('tools/benchmark.py', '_tools_benchmark')
    out = tmp_path / 'b.json'
    assert tool.main([str(CONFIG), '--device', 'cpu', '--backends', 'all', '--shapes', '64x64', '--warmup', '0',
                      '--iters', '1', '--threads', '1', '--json', str(out)] + TINY) == 0
    text = capsys.readouterr().out
    assert 'auto backend for input 1x64x64 (1 threads' in text
    data = json.loads(out.read_text())
    decision = data['auto_decision']
    assert data['backend'] == 'auto' and {(r['backend'], r['precision']) for r in decision['table']} == {
        ('pytorch', 'fp32'), ('onnxruntime', 'fp32')}
    assert f"{decision['backend']}:{decision['precision']}" in text.splitlines()[0]
    assert (tmp_path / 'cache' / 'auto' / f"{decision['key']}.json").is_file()
