"""Loss options beyond the 0.24.1 fixtures: class weights from files (safely), and clear errors."""
import json
import pickle

import numpy as np
import pytest
import torch

from mmseg.models.losses import (CrossEntropyLoss, DiceLoss, FocalLoss, LovaszLoss, get_class_weight,
                                 sigmoid_focal_loss_elementwise)

WEIGHTS = [0.5, 1.0, 2.0, 3.0]


@pytest.mark.parametrize('ext', ['.npy', '.json', '.yaml', '.pkl'])
def test_class_weight_file_equals_the_list(tmp_path, ext):
    path = tmp_path / f'w{ext}'
    if ext == '.npy':
        np.save(path, np.array(WEIGHTS))
    elif ext == '.json':
        path.write_text(json.dumps(WEIGHTS))
    elif ext == '.yaml':
        path.write_text('[0.5, 1.0, 2.0, 3.0]\n')
    else:
        path.write_bytes(pickle.dumps(np.array(WEIGHTS)))
    assert get_class_weight(str(path)) == WEIGHTS
    logits, target = torch.randn(2, 4, 5, 5), torch.randint(0, 4, (2, 5, 5))
    for cls in (CrossEntropyLoss, DiceLoss):
        torch.testing.assert_close(cls(class_weight=str(path))(logits, target),
                                   cls(class_weight=WEIGHTS)(logits, target))


class _RunsCode:
    def __reduce__(self):
        import os
        return os.system, ('touch {marker}',)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'ran'
    payload = pickle.dumps(_RunsCode()).replace(b'{marker}', str(marker).encode())
    path = tmp_path / 'w.pkl'
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=r'w\.pkl.*not plain data'):
        CrossEntropyLoss(class_weight=str(path))
    assert not marker.exists()


@pytest.mark.parametrize('value, match', [
    ('missing.npy', 'does not exist'), ([[1.0, 2.0]], 'flat list'), (['a', 'b'], 'flat list'), ([], 'flat list')])
def test_bad_class_weight_is_named(tmp_path, value, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        get_class_weight(str(tmp_path / value) if isinstance(value, str) else value)


def test_bad_weight_file_format_is_named(tmp_path):
    path = tmp_path / 'w.txt'
    path.write_text('1 2')
    with pytest.raises(ValueError, match=r'w\.txt.*unknown format'):
        get_class_weight(str(path))


@pytest.mark.parametrize('build, match', [
    (lambda: LovaszLoss(), "reduction should be 'none'"),
    (lambda: LovaszLoss(loss_type='x', reduction='none'), 'loss_type'),
    (lambda: FocalLoss(use_sigmoid=False), 'sigmoid'),
    (lambda: CrossEntropyLoss(use_sigmoid=True, use_mask=True), 'exclude'),
    (lambda: CrossEntropyLoss(reduction='avg'), 'reduction'),
])
def test_invalid_loss_configs(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_one_channel_bce_rejects_multi_class_labels():
    with pytest.raises(ValueError, match='labels 0/1'):
        CrossEntropyLoss(use_sigmoid=True)(torch.randn(2, 1, 3, 3), torch.full((2, 3, 3), 2))


def test_one_channel_bce_works_for_a_batch_of_one():
    """0.24.1 squeezes every axis of (1, 1, H, W) and then fails; here a batch of one is like any other."""
    x, t = torch.randn(2, 1, 3, 4), torch.randint(0, 2, (2, 3, 4))
    loss = CrossEntropyLoss(use_sigmoid=True, reduction='sum')
    torch.testing.assert_close(loss(x[:1], t[:1]) + loss(x[1:], t[1:]), loss(x, t))


def test_one_channel_dice_equals_two_channel_logits_zero_and_x():
    x, t = torch.randn(2, 1, 4, 4), torch.randint(0, 2, (2, 4, 4))
    t[0, 0] = 255
    two = torch.cat([torch.zeros_like(x), x], 1)
    torch.testing.assert_close(DiceLoss()(x, t), DiceLoss()(two, t))


def test_one_channel_focal_is_the_binary_problem_of_label_one():
    x, t = torch.randn(2, 1, 4, 4), torch.randint(0, 2, (2, 4, 4))
    got = FocalLoss(alpha=0.25, reduction='sum')(x, t)
    p = x[:, 0].sigmoid()
    pt = torch.where(t == 1, p, 1 - p)
    a = torch.where(t == 1, 0.25, 0.75)
    torch.testing.assert_close(got, (-a * (1 - pt) ** 2 * pt.log()).sum())


def test_kernel_focal_gradient_is_the_derivative_where_logits_are_moderate():
    x = (torch.randn(30, 3, dtype=torch.float64) * 3).float().requires_grad_(True)
    t = torch.randint(0, 3, (30,))
    torch.autograd.gradcheck(lambda z: sigmoid_focal_loss_elementwise(z.float(), t, 2.0, 0.25).double(),
                             (x.double().detach().requires_grad_(True),), eps=1e-3, atol=1e-2, rtol=1e-2)
