"""Label reading: 16-bit PNGs at full depth, 8-bit files exactly as MMSegmentation 0.24.1, RGB labels refused."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.datasets import CustomDataset
from mmseg.datasets.pipelines import LoadAnnotations
from mmseg.datasets.pipelines.loading import read_label
from ..helpers import TRAIN_PIPELINE, TRAIN_PIPELINE_RZL, write_pair


def _load(tmp_path, arr, name='l.png', reduce=False, **extra):
    Image.fromarray(arr).save(tmp_path / name)
    r = dict(seg_prefix=str(tmp_path), ann_info=dict(seg_map=name), seg_fields=[], **extra)
    return LoadAnnotations(reduce_zero_label=reduce)(r)['gt_semantic_seg']


def test_16_bit_values_do_not_wrap(tmp_path):
    arr = np.array([[0, 1, 255, 256, 260, 1000, 65535]], np.uint16)
    out = _load(tmp_path, arr)
    assert out.dtype == np.uint16 and out.tolist() == arr.tolist()
    # reduce_zero_label: 0 -> 255, v -> v - 1 and 255 stays 255 as for 8 bits (so 256 -> 255, the ignore index)
    red = _load(tmp_path, arr, reduce=True)
    assert red.tolist() == [[255, 0, 255, 255, 259, 999, 65534]]


def test_8_bit_semantics_are_those_of_0_24_1(tmp_path):
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = _load(tmp_path, arr)
    assert out.dtype == np.uint8 and np.array_equal(out, arr)
    # 0.24.1: gt[gt == 0] = 255; gt = gt - 1 (uint8); gt[gt == 254] = 255
    ref = arr.copy()
    ref[ref == 0] = 255
    ref = ref - 1
    ref[ref == 254] = 255
    red = _load(tmp_path, arr, reduce=True)
    assert red.dtype == np.uint8 and np.array_equal(red, ref)


def test_value_1000_is_reported_as_1000(tmp_path):
    arr = np.array([[0, 1, 1000]], np.uint16)
    with pytest.raises(ValueError, match=r'big\.png has value 1000 but the dataset has 4 classes'):
        _load(tmp_path, arr, name='big.png', num_classes=4, ignore_index=255)


def test_cv2_and_pillow_16_bit_files_agree(tmp_path):
    arr = np.array([[3, 300, 3000]], np.uint16)
    cv2.imwrite(str(tmp_path / 'cv.png'), arr)
    Image.fromarray(arr).save(tmp_path / 'pil.png')
    assert read_label(str(tmp_path / 'cv.png')).tolist() == read_label(str(tmp_path / 'pil.png')).tolist()


def test_rgb_label_in_training_fails_at_load_time_naming_the_file(tmp_path):
    root = str(tmp_path)
    write_pair(osp.join(root, 'img', 'a.jpg'), None, None, img_size=(6, 8))
    Image.fromarray(np.random.RandomState(0).randint(0, 3, (6, 8, 3)).astype(np.uint8)).save(_mk(root, 'a.png'))
    ds = CustomDataset(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=root, classes=('x', 'y', 'z'))
    with pytest.raises(ValueError, match=r'label file .*ann/a\.png has 3 channels \(mode RGB\)'):
        ds[0]


def _mk(root, name):
    import os
    os.makedirs(osp.join(root, 'ann'), exist_ok=True)
    return osp.join(root, 'ann', name)


def test_rgba_and_grey_alpha_and_float_labels_are_refused(tmp_path):
    Image.fromarray(np.zeros((2, 2, 4), np.uint8)).save(tmp_path / 'rgba.png')
    with pytest.raises(ValueError, match=r'rgba\.png has 4 channels'):
        read_label(str(tmp_path / 'rgba.png'))
    Image.fromarray(np.zeros((2, 2, 2), np.uint8), mode='LA').save(tmp_path / 'la.png')
    with pytest.raises(ValueError, match=r'la\.png has 2 channels'):
        read_label(str(tmp_path / 'la.png'))
    Image.fromarray(np.zeros((2, 2), np.float32)).save(tmp_path / 'f.tiff')
    with pytest.raises(ValueError, match=r'f\.tiff holds floating-point pixels'):
        read_label(str(tmp_path / 'f.tiff'))


def test_16_bit_label_trains_with_its_values(tmp_path):
    root = str(tmp_path)
    write_pair(osp.join(root, 'img', 'a.jpg'), None, None, img_size=(6, 8))
    lab = np.tile(np.array([0, 1, 2, 3, 256, 0, 1, 2], np.uint16), (6, 1))
    Image.fromarray(lab).save(_mk(root, 'a.png'))
    ds = CustomDataset(TRAIN_PIPELINE_RZL, img_dir='img', ann_dir='ann', data_root=root, reduce_zero_label=True,
                       classes=[str(i) for i in range(256)])
    gt = ds[0]['gt_semantic_seg']
    assert gt.dtype == torch.int64 and gt[0, 0].tolist() == [255, 0, 1, 2, 255, 255, 0, 1]
    # 256 is class 255 after reduction, which is the ignore index: the same rule as 8-bit 255 -> 255


def test_evaluation_reads_16_bit_labels_at_full_depth(tmp_path):
    root = str(tmp_path)
    write_pair(osp.join(root, 'img', 'a.jpg'), None, None, img_size=(6, 8))
    lab = np.tile(np.array([0, 257, 300, 1], np.uint16), (6, 2))
    Image.fromarray(lab).save(_mk(root, 'a.png'))
    ds = CustomDataset(TRAIN_PIPELINE, img_dir='img', ann_dir='ann', data_root=root, test_mode=True,
                       classes=[str(i) for i in range(301)])
    gt = ds.get_gt_seg_map_by_idx(0)
    assert gt.dtype == np.uint16 and np.array_equal(gt, lab)  # 257 and 300 are not scored as 1 and 44
