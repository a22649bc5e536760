"""CustomDataset: file discovery, classes, samples and error messages."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmseg.datasets import CustomDataset
from .helpers import META, TRAIN_PIPELINE, label, write_pair, write_split


def _simple(root, names=('b', 'a', 'sub/c'), values=(0, 1, 2)):
    for i, n in enumerate(names):
        write_pair(osp.join(root, 'img', n + '.jpg'), osp.join(root, 'ann', n + '.png'), label(values), seed=i)


def test_scan_is_recursive_and_sorted(tmp_path):
    _simple(str(tmp_path))
    ds = CustomDataset(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=str(tmp_path),
                       classes=('x', 'y', 'z'))
    assert [i['filename'] for i in ds.img_infos] == ['a.jpg', 'b.jpg', 'sub/c.jpg']
    assert ds.img_infos[2]['ann']['seg_map'] == 'sub/c.png'
    assert ds.img_dir == osp.join(str(tmp_path), 'img') and len(ds) == 3
    sample = ds[2]
    assert sample['img'].shape == (3, 6, 8) and sample['gt_semantic_seg'].shape == (1, 6, 8)
    assert torch.equal(sample['gt_semantic_seg'][0, 0, :3], torch.tensor([0, 1, 2]))
    assert sample['img_metas']['ori_filename'] == 'sub/c.jpg'


def test_split_file_order_and_test_mode(tmp_path):
    _simple(str(tmp_path))
    write_split(str(tmp_path / 'splits' / 'val.txt'), ['sub/c', 'b'])
    ds = CustomDataset([dict(type='LoadImageFromFile'), dict(type='ImageToTensor', keys=['img']),
                        dict(type='Collect', keys=['img'], meta_keys=META)], img_dir='img', ann_dir='ann',
                       split='splits/val.txt', data_root=str(tmp_path), test_mode=True, classes=('x', 'y', 'z'))
    assert [i['filename'] for i in ds.img_infos] == ['sub/c.jpg', 'b.jpg']
    assert set(ds[0]) == {'img', 'img_metas'}
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(1), label((0, 1, 2)))


def test_custom_classes_subset_and_palette(tmp_path):
    _simple(str(tmp_path))

    class Three(CustomDataset):
        CLASSES = ('x', 'y', 'z')
        PALETTE = [[1, 1, 1], [2, 2, 2], [3, 3, 3]]

    ds = Three(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=str(tmp_path), classes=['z', 'x'])
    assert ds.CLASSES == ['z', 'x'] and ds.label_map == {0: 1, 1: -1, 2: 0}
    assert ds.PALETTE == [[3, 3, 3], [1, 1, 1]]
    assert torch.equal(ds[0]['gt_semantic_seg'][0, 0, :3], torch.tensor([1, 255, 0]))
    ds = Three(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=str(tmp_path), palette=[[9, 9, 9]] * 3)
    assert ds.PALETTE == [[9, 9, 9]] * 3 and ds.label_map is None
    with pytest.raises(ValueError, match="'w'"):
        Three(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=str(tmp_path), classes=['w'])
    classes_file = tmp_path / 'classes.txt'
    classes_file.write_text('y\n')
    assert Three(TRAIN_PIPELINE, img_dir='img', data_root=str(tmp_path), classes=str(classes_file)).CLASSES == ['y']


def test_errors_name_the_input(tmp_path):
    _simple(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='nowhere'):
        CustomDataset(TRAIN_PIPELINE, img_dir='img', data_root=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='img_dir .*imgs'):
        CustomDataset(TRAIN_PIPELINE, img_dir='imgs', data_root=str(tmp_path))
    with pytest.raises(ValueError, match=r'no images ending with "\.png" found in .*img'):
        CustomDataset(TRAIN_PIPELINE, img_dir='img', img_suffix='.png', data_root=str(tmp_path))
    write_split(str(tmp_path / 'empty.txt'), [])
    with pytest.raises(ValueError, match='empty.txt is empty'):
        CustomDataset(TRAIN_PIPELINE, img_dir='img', split='empty.txt', data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='split file .*absent.txt'):
        CustomDataset(TRAIN_PIPELINE, img_dir='img', split='absent.txt', data_root=str(tmp_path))
    with pytest.raises(TypeError, match='build_dataset'):
        CustomDataset(TRAIN_PIPELINE, img_dir='img', ann_dir=['a', 'b'], data_root=str(tmp_path))


def test_bad_label_value_and_size_mismatch(tmp_path):
    root = str(tmp_path)
    write_pair(osp.join(root, 'img', 'a.jpg'), osp.join(root, 'ann', 'a.png'), label((0, 1, 9)))
    write_pair(osp.join(root, 'img', 'b.jpg'), osp.join(root, 'ann', 'b.png'), label((0, 1)), img_size=(7, 8))
    ds = CustomDataset(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=root, classes=('x', 'y', 'z'))
    with pytest.raises(ValueError, match=r'a\.png has value 9'):
        ds[0]
    with pytest.raises(ValueError, match=r'b\.jpg has size \(7, 8\) but label .*b\.png has size \(6, 8\)'):
        ds[1]
    assert ds.get_gt_seg_map_by_idx(0).max() == 9  # raw read does not check the range
