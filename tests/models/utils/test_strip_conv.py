"""RowStripConv: an nn.Conv2d whose CPU training backward takes the weight gradient of the transposed problem.
The forward must be bit-identical, the gradients equal to nn.Conv2d's within float32 rounding, and every other mode
(eval, no_grad, autocast) must take the plain path."""
import pytest
import torch
import torch.nn as nn

from mmseg.models.utils.strip_conv import RowStripConv


def _pair(dim, length, bias=True, seed=0):
    torch.manual_seed(seed)
    fast = RowStripConv(dim, length)
    plain = nn.Conv2d(dim, dim, (1, length), padding=(0, length // 2), groups=dim, bias=bias)
    if not bias:
        fast.bias = None
    plain.load_state_dict(fast.state_dict())
    return fast.train(), plain.train()


def _input(shape, channels_last, seed=1):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('length', [7, 11, 21])
@pytest.mark.parametrize('bias', [True, False])
def test_same_output_and_gradients_as_conv2d(channels_last, length, bias):
    fast, plain = _pair(6, length, bias)
    outs, grads = [], []
    for conv in (fast, plain):
        x = _input((2, 6, 13, 29), channels_last).requires_grad_()
        y = conv(x)
        # a non-uniform upstream gradient, so that every tap of the kernel gets a different sum
        y.backward(_input(y.shape, channels_last, seed=2))
        outs.append(y)
        grads.append([x.grad] + [p.grad for p in conv.parameters()])
    assert 'RowConvTransposedWeightGrad' in type(outs[0].grad_fn).__name__  # the fast backward ran
    assert torch.equal(outs[0], outs[1])  # the forward is the same conv2d call
    for a, b in zip(*grads):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6 * b.abs().max().item())
    assert grads[0][1].is_contiguous()


def test_frozen_weight_and_input_without_grad():
    fast, plain = _pair(4, 21)
    fast.weight.requires_grad_(False)
    plain.weight.requires_grad_(False)
    x = _input((1, 4, 8, 30), True)
    fast(x).sum().backward()
    plain(x).sum().backward()
    assert fast.weight.grad is None
    assert torch.allclose(fast.bias.grad, plain.bias.grad, rtol=1e-6)


def test_plain_path_outside_float32_cpu_training():
    fast, _ = _pair(4, 7)
    x = _input((1, 4, 8, 16), False).requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert type(fast(x).grad_fn).__name__.startswith('ConvolutionBackward')
    with torch.no_grad():
        assert fast(x).grad_fn is None
    fast.eval()
    assert type(fast(x).grad_fn).__name__.startswith('ConvolutionBackward')


def test_checkpoint_keys_are_conv2d_keys():
    fast, plain = _pair(8, 11)
    assert fast.state_dict().keys() == plain.state_dict().keys() == {'weight', 'bias'}
    assert fast.weight.shape == plain.weight.shape == (8, 1, 1, 11)
