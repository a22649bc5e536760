"""The lean loss (resize + cross-entropy + acc_seg without label-size tensors) against the plain path."""
import importlib

import pytest
import torch
import torch.nn.functional as F

from mmseg.models import build_segmentor  # noqa: F401  (registers the heads)
from mmseg.models.decode_heads.ham_head import LightHamHead
from mmseg.models.losses import CrossEntropyLoss, accuracy, upsample_cross_entropy

uce_module = importlib.import_module('mmseg.models.losses.upsample_cross_entropy')


def _data(B=2, K=7, small=(8, 10), big=(64, 80), seed=0, ignore_rows=5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, K, *small, generator=g) * 3
    target = torch.randint(0, K, (B, *big), generator=g)
    target[:, :ignore_rows] = 255
    target[0, -1, ::3] = 255
    return logits, target


def _plain(logits, target, loss_fn, align_corners):
    x = logits.detach().clone().requires_grad_()
    up = F.interpolate(x, size=target.shape[-2:], mode='bilinear', align_corners=align_corners)
    loss = loss_fn(up, target, ignore_index=255)
    acc = accuracy(up, target)
    loss.backward()
    return loss.detach(), acc, x.grad


def _lean(logits, target, loss_fn, align_corners):
    x = logits.detach().clone().requires_grad_()
    loss, acc = loss_fn.forward_upsampled(x, target, 255, align_corners)
    loss.backward()
    return loss.detach(), acc, x.grad


def _assert_float32_close(a, b):
    # float32 rounding: the two paths sum the same terms in another order
    scale = a.abs().max().clamp(min=1e-30)
    assert ((a - b).abs().max() / scale).item() < 2e-6


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('loss_cfg', [
    dict(),  # official: mean over all pixels, ignored ones included
    dict(avg_non_ignore=True),
    dict(class_weight=[0.5, 1.0, 2.0, 1.5, 0.7, 1.1, 0.9], loss_weight=0.4),
    dict(reduction='sum', loss_weight=2.0),
])
@pytest.mark.parametrize('sizes', [((8, 10), (64, 80)), ((7, 9), (50, 61))])  # ratio 8 and a non-integer one
def test_matches_plain_path(align_corners, loss_cfg, sizes, monkeypatch):
    monkeypatch.setattr(uce_module, 'CHUNK_ELEMENTS', 5000)  # several chunks, one not full
    loss_fn = CrossEntropyLoss(**loss_cfg)
    logits, target = _data(small=sizes[0], big=sizes[1])
    loss_p, acc_p, grad_p = _plain(logits, target, loss_fn, align_corners)
    loss_l, acc_l, grad_l = _lean(logits, target, loss_fn, align_corners)
    _assert_float32_close(loss_p, loss_l)
    assert torch.equal(acc_p, acc_l)
    _assert_float32_close(grad_p, grad_l)


def test_upstream_gradient_scales_and_everything_ignored():
    logits, target = _data()
    x = logits.clone().requires_grad_()
    loss, _ = upsample_cross_entropy(x, target)
    (loss * 3.0).backward()
    y = logits.clone().requires_grad_()
    F.cross_entropy(F.interpolate(y, size=target.shape[-2:], mode='bilinear'), target, ignore_index=255,
                    reduction='none').mean().mul(3.0).backward()
    _assert_float32_close(y.grad, x.grad)
    # all pixels ignored: zero loss, zero gradient, zero accuracy (the plain path gives the same)
    x = logits.clone().requires_grad_()
    loss, acc = upsample_cross_entropy(x, torch.full_like(target, 255))
    loss.backward()
    assert loss.item() == 0 and acc.item() == 0 and not x.grad.any()


def test_keeps_no_label_size_tensor_for_backward():
    logits, target = _data(K=20, small=(16, 16), big=(128, 128))
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    x = logits.clone().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        upsample_cross_entropy(x, target)
    assert 0 < sum(storages.values()) <= logits.numel() * 4  # the small gradient only
    with torch.no_grad():  # no gradient wanted: none computed, same value
        loss_ng, _ = upsample_cross_entropy(logits, target)
    loss, _ = upsample_cross_entropy(logits.clone().requires_grad_(), target)
    assert torch.equal(loss_ng, loss.detach())


def test_bf16_logits_under_autocast():
    logits, target = _data()
    x = logits.to(torch.bfloat16).requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss, _ = upsample_cross_entropy(x, target)
    loss.backward()
    assert loss.dtype == torch.float32 and x.grad.dtype == torch.bfloat16
    ref, _, _ = _plain(x.detach().float(), target, CrossEntropyLoss(), False)
    assert torch.allclose(loss.detach(), ref, rtol=1e-5)


def _head(lean):
    torch.manual_seed(0)
    return LightHamHead(in_channels=[16, 24, 32], in_index=[1, 2, 3], channels=16, ham_channels=16, dropout_ratio=0.1,
                        num_classes=5, norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
                        ham_kwargs=dict(MD_R=4), lean_loss=lean).train()


def test_head_switch_same_losses_and_gradients():
    g = torch.Generator().manual_seed(1)
    feats = [torch.randn(2, c, 64 // s, 64 // s, generator=g) for c, s in ((8, 4), (16, 8), (24, 16), (32, 32))]
    gt = torch.randint(0, 5, (2, 1, 64, 64), generator=g)
    gt[:, :, :3] = 255
    results = []
    for lean in (False, True):
        head = _head(lean)
        torch.manual_seed(5)  # dropout and NMF bases
        losses = head.forward_train(feats, [{}] * 2, gt)
        losses['loss_ce'].backward()
        results.append((losses, {n: p.grad for n, p in head.named_parameters()}))
    (plain, grads_p), (lean, grads_l) = results
    assert plain.keys() == lean.keys() == {'loss_ce', 'acc_seg'}
    _assert_float32_close(plain['loss_ce'].detach(), lean['loss_ce'].detach())
    assert torch.equal(plain['acc_seg'], lean['acc_seg'])
    for name in grads_p:
        _assert_float32_close(grads_p[name], grads_l[name])


def test_head_rejects_lean_loss_without_a_reducing_cross_entropy():
    with pytest.raises(ValueError, match='lean_loss'):
        LightHamHead(in_channels=[16, 24, 32], in_index=[1, 2, 3], channels=16, ham_channels=16, num_classes=5,
                     norm_cfg=dict(type='GN', num_groups=4), lean_loss=True,
                     loss_decode=dict(type='CrossEntropyLoss', reduction='none'))


@pytest.mark.parametrize('loss_decode, expected', [
    (None, True),  # the official SegNeXt loss: lean by default
    (dict(type='CrossEntropyLoss', avg_non_ignore=True, loss_weight=0.4), True),
    ([dict(type='CrossEntropyLoss'), dict(type='CrossEntropyLoss', reduction='none', loss_name='loss_px')], False),
])
def test_head_lean_loss_default_follows_the_losses(loss_decode, expected):
    head = LightHamHead(in_channels=[16, 24, 32], in_index=[1, 2, 3], channels=16, ham_channels=16, num_classes=5,
                        norm_cfg=dict(type='GN', num_groups=4), loss_decode=loss_decode)
    assert head.lean_loss is expected
    kwargs = dict(in_channels=[16, 24, 32], in_index=[1, 2, 3], channels=16, ham_channels=16, num_classes=5,
                  norm_cfg=dict(type='GN', num_groups=4), loss_decode=loss_decode)
    assert LightHamHead(lean_loss=False, **kwargs).lean_loss is False
