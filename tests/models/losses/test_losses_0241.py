"""Our losses against numbers computed by MMSegmentation 0.24.1's own loss code.

tests/fixtures/losses_0241.npz holds inputs (float32 logits with ignore pixels), values and gradients made by
``benchmarks/parity/check_losses.py --write-fixtures tests/fixtures`` in a separate venv running the 0.24.1 source
(``benchmarks/parity/mmseg0241_env.sh``). Each case here recomputes our value and gradient on the stored inputs.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

_ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location('check_losses', _ROOT / 'benchmarks' / 'parity' / 'check_losses.py')
cl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cl)

_DATA = dict(np.load(_ROOT / 'tests' / 'fixtures' / 'losses_0241.npz'))
_ALL = [(family, case) for family, cases in cl.CASES.items() for case in cases]


def test_fixture_was_made_from_the_current_cases():
    meta = json.loads(str(_DATA['meta']))
    assert meta['cases'] == json.loads(json.dumps(cl.CASES)), 'regenerate: check_losses.py --write-fixtures'
    assert meta['torch'].startswith('2.')


@pytest.mark.parametrize('family, case', _ALL, ids=[f"{f}-{c['name']}" for f, c in _ALL])
def test_value_and_gradient_equal_0241(family, case):
    value, grad = cl.ours(family, case, _DATA)
    followed = cl.FOLLOWS.get((family, case['name']))
    key = f'{family}/{followed}' if followed else cl.case_key(family, case)
    ref_v, ref_g = _DATA[key + '/value'], _DATA[key + '/grad']
    assert value.shape == ref_v.shape or value.size == ref_v.size == 1
    np.testing.assert_allclose(value.reshape(ref_v.shape), ref_v, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(grad, ref_g, rtol=1e-5, atol=2e-6 + 1e-5 * float(np.abs(ref_g).max()))
    assert np.abs(ref_g).max() > 0, 'a case whose gradient is all zero tests nothing'


def test_focal_follows_the_cuda_kernel_where_the_two_0241_paths_differ():
    """With logits beyond ±16.6 the CPU path of 0.24.1 and mmcv's kernel differ; ours is the kernel's."""
    cpu = _DATA['focal/cpu_extreme_logits/value']
    cuda = _DATA['focal/cuda_extreme_logits/value']
    assert abs(float(cpu) - float(cuda)) > 0.05
    case = next(c for c in cl.CASES['focal'] if c['name'] == 'cpu_extreme_logits')
    value, _ = cl.ours('focal', case, _DATA)
    assert abs(float(value) - float(cuda)) <= 1e-5 * abs(float(cuda))


def test_ignored_pixels_get_no_gradient_where_0241_gives_none():
    """CE (softmax and sigmoid) and Lovász drop ignored pixels; Dice keeps them in its denominator (0.24.1)."""
    for family, name in (('ce', 'softmax'), ('ce', 'sigmoid_onehot'), ('lovasz', 'softmax_present'),
                         ('focal', 'cpu_default')):
        key = f'{family}/{name}'
        ignored = _DATA[key + '/target'] == 255
        assert ignored.any()
        grad = np.moveaxis(_DATA[key + '/grad'], 1, -1)[ignored]
        assert np.abs(grad).max() == 0
    dice_ignored = _DATA['dice/default/target'] == 255
    assert np.abs(np.moveaxis(_DATA['dice/default/grad'], 1, -1)[dice_ignored]).max() > 0
