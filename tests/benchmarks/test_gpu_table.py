"""benchmarks/gpu_table.py runs end to end in its CPU smoke mode (the GPU run itself needs a GPU)."""
import json

import pytest

from tests.conftest import load_script


@pytest.mark.slow  # builds SegNeXt-T and runs bf16 (emulated on AVX2 CPUs): ~30 s on a quiet 2-core machine
def test_gpu_table_quick_cpu(tmp_path, capsys):
    tool = load_script('benchmarks/gpu_table.py')
    out = tmp_path / 'rows.json'
    assert tool.main(['--device', 'cpu', '--quick', '--shape', '64', '--no-reference', '--json', str(out)]) == 0
    text = capsys.readouterr().out
    rows = json.loads(out.read_text())['rows']
    assert [(r['precision'], r['batch']) for r in rows] == [('fp32', 1), ('fp32', 2), ('bf16', 1), ('bf16', 2)]
    for r in rows:
        assert r['impl'] == 'ours' and r['variant'] == 'T' and r['mode'] == 'eager'
        assert r['img_s'] > 0 and r['latency_ms'] > 0 and r['peak_mib'] > 0
    assert text.count('| ours | T |') == 4


def test_budget_marks_rows_skipped(tmp_path, capsys):
    tool = load_script('benchmarks/gpu_table.py')
    assert tool.main(['--device', 'cpu', '--quick', '--shape', '64', '--no-reference', '--budget-s', '0']) == 0
    assert capsys.readouterr().out.count('skipped (budget)') == 4
