"""The low-memory recipe (mmseg.utils.low_memory) on a whole segmentor: same training step as the plain path for the
exact switches (with_cp, lean_loss), fewer bytes kept for backward, and a config error that names the section."""
import copy

import pytest
import torch

from mmseg.models import build_segmentor
from mmseg.utils.low_memory import LOW_MEMORY_OPTIONS, apply_low_memory


def _train_step(cfg, img, gt):
    torch.manual_seed(0)
    model = build_segmentor(cfg)
    model.init_weights()
    model.train()
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    torch.manual_seed(1)  # DropPath, dropout, NMF bases
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        losses = model.forward_train(img, [{}] * img.shape[0], gt)
    losses['decode.loss_ce'].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return losses, grads, sum(storages.values()), dict(model.named_buffers())


def test_recipe_switches_keep_the_step_and_save_memory(tiny_cfg):
    tiny_cfg['backbone']['norm_cfg'] = dict(type='BN', requires_grad=True)
    g = torch.Generator().manual_seed(2)
    img = torch.randn(2, 3, 48, 48, generator=g)
    gt = torch.randint(0, 5, (2, 1, 48, 48), generator=g)
    gt[:, :, :4] = 255
    tiny_cfg['decode_head']['lean_loss'] = False  # the plain path: resize, then cross-entropy
    exact = copy.deepcopy(tiny_cfg)
    exact['backbone']['with_cp'] = True
    exact['decode_head']['lean_loss'] = True
    plain_losses, plain_grads, plain_bytes, plain_buffers = _train_step(tiny_cfg, img, gt)
    lean_losses, lean_grads, lean_bytes, lean_buffers = _train_step(exact, img, gt)
    assert torch.allclose(plain_losses['decode.loss_ce'], lean_losses['decode.loss_ce'], rtol=2e-6, atol=0)
    assert torch.equal(plain_losses['decode.acc_seg'], lean_losses['decode.acc_seg'])
    assert plain_grads.keys() == lean_grads.keys()
    # float32 rounding through the net; biases before a BN have an exact gradient of 0, i.e. rounding noise only,
    # hence the small absolute floor relative to the largest gradient of the model
    floor = 1e-7 * max(g.abs().max() for g in plain_grads.values())
    for name, grad in plain_grads.items():
        assert (grad - lean_grads[name]).abs().max() <= 2e-5 * grad.abs().max() + floor, name
    for name, value in plain_buffers.items():  # BN statistics: one update, and the same one
        if name.endswith('num_batches_tracked'):
            assert int(value) == int(lean_buffers[name]) == 1, name
    assert lean_bytes < 0.6 * plain_bytes
    # the full recipe adds the one-step NMF gradient: a different gradient, same loss value, still fewer bytes
    full = apply_low_memory({'model': copy.deepcopy(tiny_cfg)})['model']
    assert full['decode_head']['one_step_grad'] and full['backbone']['with_cp'] and full['decode_head']['lean_loss']
    full_losses, _, full_bytes, _ = _train_step(full, img, gt)
    assert torch.allclose(plain_losses['decode.loss_ce'], full_losses['decode.loss_ce'], rtol=2e-6, atol=0)
    assert full_bytes <= lean_bytes


def test_recipe_names_a_missing_section():
    with pytest.raises(KeyError, match='model.decode_head'):
        apply_low_memory({'model': {'backbone': {}}})
    assert set(LOW_MEMORY_OPTIONS) == {'model.backbone.with_cp', 'model.decode_head.lean_loss',
                                       'model.decode_head.one_step_grad'}
