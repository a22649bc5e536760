"""Seeding helpers of mmseg.apis.train."""
import random

import numpy as np
import torch

from mmseg.apis import init_random_seed, set_random_seed


def test_seed_helpers():
    assert init_random_seed(7) == 7
    s = init_random_seed(None)
    assert isinstance(s, int) and 0 <= s < 2 ** 31
    set_random_seed(11)
    a = (torch.rand(2), np.random.rand(), random.random())
    set_random_seed(11)
    b = (torch.rand(2), np.random.rand(), random.random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
