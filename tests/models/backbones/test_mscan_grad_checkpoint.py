"""Gradient checkpointing of MSCAN (``with_cp`` / timm's ``set_grad_checkpointing``) against the plain path."""
import copy

import pytest
import timm
import torch

import mmseg.models  # noqa: F401  (registers the timm models)
from mmseg.models.backbones.mscan import MSCAN


def _small_mscan(**kw) -> MSCAN:
    torch.manual_seed(0)
    model = MSCAN(embed_dims=[8, 16, 24, 32], depths=[2, 1, 2, 1], mlp_ratios=[4, 4, 4, 4], drop_path_rate=0.3,
                  drop_rate=0.1, norm_cfg=dict(type='BN', requires_grad=True), **kw)
    model.init_weights()
    return model.train()


def _step(model: torch.nn.Module, img: torch.Tensor):
    torch.manual_seed(1)  # DropPath/Dropout draws
    outs = model(img)
    loss = sum((o.float() ** 2).mean() * (i + 1) for i, o in enumerate(outs))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def _saved_bytes(model: torch.nn.Module, img: torch.Tensor) -> int:
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(img)
    return sum(storages.values())


@pytest.mark.parametrize('channels_last', [False, True])
def test_with_cp_same_loss_gradients_and_bn_statistics(channels_last):
    plain = _small_mscan(channels_last=channels_last)
    cp = copy.deepcopy(plain)
    cp.with_cp = True
    img = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2), requires_grad=False)
    loss_plain, grads_plain = _step(plain, img)
    loss_cp, grads_cp = _step(cp, img)
    assert torch.equal(loss_plain, loss_cp)
    assert grads_plain.keys() == grads_cp.keys()
    for name in grads_plain:
        assert torch.equal(grads_plain[name], grads_cp[name]), name
    # running statistics: one update per step, as without checkpointing (the recompute in backward must not count)
    buffers_plain, buffers_cp = dict(plain.named_buffers()), dict(cp.named_buffers())
    bn_counts = [n for n in buffers_plain if n.endswith('num_batches_tracked')]
    assert bn_counts and all(int(buffers_cp[n]) == 1 for n in bn_counts)
    for name, value in buffers_plain.items():
        assert torch.equal(value, buffers_cp[name]), name


def test_with_cp_keeps_fewer_tensors_and_is_off_in_eval():
    model = _small_mscan()
    img = torch.randn(2, 3, 32, 32)
    plain_bytes = _saved_bytes(model, img)
    model.with_cp = True
    cp_bytes = _saved_bytes(model, img)
    assert cp_bytes < 0.5 * plain_bytes
    model.eval()  # no recomputation machinery in eval: identical outputs, no autograd graph wrappers
    with torch.no_grad():
        outs_cp = model(img)
    model.with_cp = False
    with torch.no_grad():
        outs_plain = model(img)
    assert all(torch.equal(a, b) for a, b in zip(outs_cp, outs_plain))


def test_with_cp_from_config_and_timm_switch():
    assert _small_mscan(with_cp=True).with_cp
    clf = timm.create_model('mscan_t', num_classes=5)
    assert not clf.with_cp
    clf.set_grad_checkpointing()
    assert clf.with_cp
    clf.set_grad_checkpointing(False)
    assert not clf.with_cp
    assert timm.create_model('mscan_t', num_classes=0, with_cp=True).with_cp


def test_timm_classifier_gradients_equal_with_checkpointing():
    torch.manual_seed(0)
    plain = timm.create_model('mscan_t', num_classes=3, embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1]).train()
    cp = copy.deepcopy(plain)
    cp.set_grad_checkpointing(True)
    img = torch.randn(2, 3, 32, 32)
    grads = []
    for model in (plain, cp):
        torch.manual_seed(1)
        model(img).logsumexp(1).sum().backward()
        grads.append({n: p.grad for n, p in model.named_parameters()})
    for name in grads[0]:
        assert torch.equal(grads[0][name], grads[1][name]), name
