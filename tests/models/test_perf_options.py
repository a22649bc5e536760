"""Every speed option against the plain path: channels-last, NMF layout and in-place eval updates, compile."""
import pytest
import torch

from mmseg.models import MSCAN, build_segmentor
from mmseg.models.utils import is_channels_last
from mmseg.models.decode_heads.nmf import NMF2D
from tests.conftest import randomize_


def _backbone(channels_last):
    return randomize_(MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='BN'),
                            channels_last=channels_last)).eval()


def test_channels_last_backbone_matches_nchw_and_keeps_layout():
    x = torch.randn(2, 3, 64, 96)
    nchw, nhwc = _backbone(False), _backbone(True)
    with torch.no_grad():
        ref, out = nchw(x), nhwc(x)
    for a, b in zip(out, ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
        assert is_channels_last(a) and b.is_contiguous()


def test_channels_last_is_off_by_default_and_auto_means_cpu():
    model = MSCAN(embed_dims=[32, 64, 160, 256], depths=[1, 1, 1, 1], norm_cfg=dict(type='BN')).eval()
    assert model.channels_last is False  # default: bit-identical to the reference's NCHW path
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert model(x)[0].is_contiguous()
        model.channels_last = None
        assert is_channels_last(model(x)[0])


def test_segmentor_channels_last_matches_nchw(tiny_cfg):
    model = randomize_(build_segmentor(tiny_cfg)).eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        model.backbone.channels_last = False
        ref = model.encode_decode(img)
        model.backbone.channels_last = True
        out = model.encode_decode(img)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('R,S', [(4, 1), (4, 2)])
def test_nmf_channels_last_input_same_values_and_layout(R, S):
    nmf = NMF2D(16, S=S, R=R).eval()
    x = torch.rand(2, 16, 6, 7)
    xc = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        ref, out = nmf(x), nmf(xc)
    assert torch.allclose(out, ref, atol=1e-6, rtol=1e-5)
    assert is_channels_last(out) == (S == 1)


def test_nmf_inplace_eval_updates_equal_autograd_path_and_touch_no_input():
    nmf = NMF2D(16, R=4).eval()
    x = torch.rand(2, 16, 5, 5)
    x0, bases0 = x.clone(), nmf.fixed_bases.clone()
    with torch.no_grad():
        fast = nmf(x)
    slow = nmf(x.clone().requires_grad_(True))  # grad enabled: the out-of-place formulas
    assert torch.equal(fast, slow.detach())  # same operations in the same order: bit-identical
    assert torch.equal(x, x0) and torch.equal(nmf.fixed_bases, bases0)


def test_nmf_one_step_grad_keeps_gradient_through_final_update():
    nmf = NMF2D(16, R=4, one_step_grad=True).train()
    x = torch.rand(1, 16, 4, 4, requires_grad=True)
    nmf(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_nmf_traces_without_graph_breaks():
    explain = torch._dynamo.explain(NMF2D(16, R=4).eval())(torch.rand(1, 16, 4, 4))
    assert explain.graph_break_count == 0, explain.break_reasons


def test_torch_compile_whole_model_matches_eager(tiny_cfg):
    """Inductor compiles backbone + head + NMF as one graph (fullgraph: no breaks) with eager's values."""
    model = randomize_(build_segmentor(tiny_cfg)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        eager = model.encode_decode(x)
        compiled = torch.compile(model.encode_decode, fullgraph=True)(x)
    assert torch.allclose(compiled, eager, atol=1e-5)


def test_bf16_autocast_close_to_fp32(tiny_cfg):
    """AMP changes values only at bf16 precision (the NMF itself stays fp32); predictions agree."""
    model = randomize_(build_segmentor(tiny_cfg)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fp32 = model.encode_decode(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            bf16 = model.encode_decode(x)
    assert bf16.dtype == torch.bfloat16
    assert (bf16.float() - fp32).abs().max() <= 0.02 * fp32.abs().max()
    assert (bf16.argmax(1) == fp32.argmax(1)).float().mean() >= 0.99
