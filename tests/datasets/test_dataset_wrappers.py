"""RepeatDataset and ConcatDataset index arithmetic."""
import os.path as osp

import numpy as np
import pytest

from mmseg.datasets import ConcatDataset, CustomDataset, RepeatDataset
from .helpers import TRAIN_PIPELINE, label, write_pair


class _Three(CustomDataset):
    CLASSES = ('a', 'b', 'c')
    PALETTE = [[0, 0, 0]] * 3


def _ds(root, n, base):
    for i in range(n):
        write_pair(osp.join(root, 'img', f'{i}.jpg'), osp.join(root, 'ann', f'{i}.png'), label((base + i) % 3))
    return _Three(TRAIN_PIPELINE, img_dir=osp.join(root, 'img'), ann_dir=osp.join(root, 'ann'))


def test_repeat_dataset(tmp_path):
    ds = _ds(str(tmp_path), 3, 0)
    rep = RepeatDataset(ds, 4)
    assert len(rep) == 12 and rep.CLASSES == ds.CLASSES
    assert rep[7]['img_metas']['ori_filename'] == '1.jpg'
    assert rep.get_gt_seg_map_by_idx(5)[0, 0] == 2
    with pytest.raises(ValueError, match='times'):
        RepeatDataset(ds, 0)


def test_concat_dataset(tmp_path):
    a, b = _ds(str(tmp_path / 'a'), 2, 0), _ds(str(tmp_path / 'b'), 3, 1)
    cat = ConcatDataset([a, b])
    assert len(cat) == 5 and cat.CLASSES == a.CLASSES and cat.ignore_index == 255
    assert cat.locate(2) == (1, 0) and cat.locate(-1) == (1, 2)
    np.testing.assert_array_equal(cat.get_gt_seg_map_by_idx(3), b.get_gt_seg_map_by_idx(1))
    with pytest.raises(IndexError):
        cat.locate(5)
