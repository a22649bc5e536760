"""Helpers of benchmarks/parity/check_parity.py that run without the reference venv."""
import importlib.util
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[2] / 'benchmarks' / 'parity' / 'check_parity.py'
_spec = importlib.util.spec_from_file_location('check_parity', _PATH)
cp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cp)


def _official_like_state() -> dict:
    return {
        'backbone.block1.0.mlp.dwconv.dwconv.weight': torch.zeros(8, 1, 3, 3),
        'backbone.block1.0.mlp.dwconv.dwconv.bias': torch.zeros(8),
        'backbone.block1.0.mlp.fc1.weight': torch.zeros(8, 4, 1, 1),
        'backbone.block1.0.norm1.running_var': torch.ones(4),
        'backbone.block1.0.norm1.running_mean': torch.zeros(4),
        'backbone.block1.0.norm1.num_batches_tracked': torch.tensor(3),
        'backbone.block1.0.norm1.weight': torch.ones(4),
        'backbone.block1.0.layer_scale_1': torch.full((4,), 1e-2),
        'decode_head.hamburger.ham_in.conv.weight': torch.zeros(16, 16, 1, 1),
    }


def test_randomize_state_is_seeded_and_keeps_layout():
    state = _official_like_state()
    a, b, c = cp.randomize_state(state, 1), cp.randomize_state(state, 1), cp.randomize_state(state, 2)
    assert a.keys() == state.keys()
    for key, ref in state.items():
        assert a[key].shape == ref.shape and a[key].dtype == ref.dtype
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a['backbone.block1.0.mlp.fc1.weight'], c['backbone.block1.0.mlp.fc1.weight'])
    assert a['backbone.block1.0.norm1.num_batches_tracked'].item() == 3
    assert (a['backbone.block1.0.norm1.running_var'] > 0).all()
    # every float tensor moves away from the (trivial) values it had
    for key, ref in state.items():
        if ref.is_floating_point():
            assert not torch.equal(a[key], ref), key
    assert a['backbone.block1.0.layer_scale_1'].abs().min() > 0.05


@pytest.mark.parametrize('name', sorted(cp.VARIANTS))
def test_variant_configs_are_consistent(name):
    backbone, head = cp.variant_parts(name)
    cfg = cp.our_model_cfg(name, 'official', 3)
    assert head['in_channels'] == backbone['embed_dims'][1:]
    assert cfg['backbone']['depths'] == backbone['depths']
    assert cfg['decode_head']['ham_kwargs']['MD_R'] == head['MD_R']  # 64 for B/L, not MMSeg 1.x's 16
    assert cfg['backbone']['norm_cfg']['type'] == 'BN' and cfg['backbone']['init_cfg'] is None
    assert cfg['decode_head']['nmf_eval_bases'] == 'official' and cfg['decode_head']['nmf_seed'] == 3
    assert 'MD_R' not in cfg['decode_head']


def test_unknown_variant_is_named():
    with pytest.raises(KeyError, match="'x'"):
        cp.variant_parts('x')


def _outputs(gen: torch.Generator) -> dict:
    return dict(features=[torch.randn(1, 4, 8 // s, 8 // s, generator=gen) for s in (1, 2, 4, 8)],
                logits=torch.randn(1, 3, 2, 2, generator=gen), upsampled=torch.randn(1, 3, 16, 16, generator=gen))


def test_compare_passes_identical_and_fails_beyond_tolerance():
    ref = _outputs(torch.Generator().manual_seed(0))
    assert cp.compare(ref, ref)['pass']
    ours = {k: ([t.clone() for t in v] if isinstance(v, list) else v.clone()) for k, v in ref.items()}
    ours['features'][2][0, 1, 0, 0] += 2 * cp.TOL  # one element of stage 3, just past the tolerance
    row = cp.compare(ours, ref)
    assert not row['pass'] and row['feats'][2] == pytest.approx(2 * cp.TOL, rel=1e-2)  # fp32 rounding of x + 2e-5
    assert row['feats'][0] == row['feats'][1] == row['feats'][3] == 0.0


def test_compare_rejects_shape_mismatch():
    ref = _outputs(torch.Generator().manual_seed(0))
    ours = dict(ref, logits=ref['logits'][:, :2])
    with pytest.raises(ValueError, match='shape mismatch'):
        cp.compare(ours, ref)
