import torch

from mmseg.models import accuracy


def test_accuracy_equals_argmax_definition_and_ignores_255():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 7, 9, 11, generator=g)
    target = torch.randint(0, 7, (2, 9, 11), generator=g)
    target[0, :3] = 255
    valid = target != 255
    expected = (logits.argmax(1)[valid] == target[valid]).float().mean() * 100
    assert torch.allclose(accuracy(logits, target), expected.reshape(1))
    assert accuracy(logits, torch.full_like(target, 255)).item() == 0.0
    assert accuracy(logits, logits.argmax(1)).item() == 100.0
