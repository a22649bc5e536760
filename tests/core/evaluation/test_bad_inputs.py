"""Metrics read .npy prediction paths (0.24.1) and the evaluator refuses labels it would score silently."""
import numpy as np
import pytest
from PIL import Image

from mmseg.core.evaluation import SegEvaluator, intersect_and_union


def test_npy_prediction_and_label_image_paths(tmp_path):
    pred = np.array([[0, 1, 2, 2]], np.int64)
    gt = np.array([[0, 1, 1, 255]], np.uint8)
    np.save(tmp_path / 'pred.npy', pred)
    Image.fromarray(gt).save(tmp_path / 'gt.png')
    from_paths = intersect_and_union(str(tmp_path / 'pred.npy'), str(tmp_path / 'gt.png'), 3, 255)
    from_arrays = intersect_and_union(pred, gt, 3, 255)
    for a, b in zip(from_paths, from_arrays):
        assert a.tolist() == b.tolist()
    assert from_arrays[0].tolist() == [1, 1, 0]


def test_16_bit_label_path_keeps_its_values(tmp_path):
    Image.fromarray(np.array([[0, 300]], np.uint16)).save(tmp_path / 'gt16.png')
    areas = intersect_and_union(np.array([[0, 44]]), str(tmp_path / 'gt16.png'), 301, 255)
    assert areas[3][300] == 1 and areas[3][44] == 0  # 300 is not read as 300 - 256 = 44


def test_unreadable_npy_names_the_file(tmp_path):
    (tmp_path / 'bad.npy').write_bytes(b'nope')
    with pytest.raises(OSError, match=r'bad\.npy'):
        intersect_and_union(str(tmp_path / 'bad.npy'), np.zeros((1, 1)), 2, 255)


def test_evaluator_refuses_out_of_range_gt_naming_file_and_value():
    ev = SegEvaluator(4)
    with pytest.raises(ValueError, match=r'ground truth data/ann/x\.png has value 7 but the evaluation has 4 classes'):
        ev.process(np.zeros((1, 3)), np.array([[0, 7, 255]], np.uint8), 0, name='data/ann/x.png')
    assert len(ev) == 0
    with pytest.raises(ValueError, match=r'ground truth sample 3 has values 5, 9'):
        ev.process(np.zeros((1, 3)), np.array([[5, 9, 1]], np.uint8), 3)
    # reduce_zero_label: raw 5 is class 4, out of range for 4 classes; raw 0 and 255 are ignored
    ev = SegEvaluator(4, reduce_zero_label=True)
    ev.process(np.zeros((1, 3)), np.array([[0, 4, 255]], np.uint8), 0)
    with pytest.raises(ValueError, match=r'value 5 .*after reduce_zero_label'):
        ev.process(np.zeros((1, 2)), np.array([[0, 5]], np.uint8), 1)


def test_evaluator_size_mismatch_names_the_file():
    with pytest.raises(ValueError, match=r'lab\.png: prediction shape \(2, 2\) != ground-truth shape \(3, 3\)'):
        SegEvaluator(2).process(np.zeros((2, 2)), np.zeros((3, 3), np.uint8), 0, name='lab.png')
