"""Metric semantics checked against confusion matrices worked out by hand."""
import numpy as np
import pytest
import torch

from mmseg.core.evaluation import eval_metrics, intersect_and_union, total_area_to_metrics

# K = 3. The last pixel has gt 255 and must vanish from every area, including the prediction's.
PRED = np.array([[0, 0, 1], [1, 2, 2]])
GT = np.array([[0, 1, 1], [1, 2, 255]], dtype=np.uint8)
# kept (pred, gt) pairs: (0,0) (0,1) (1,1) (1,1) (2,2)
INTERSECT = [1, 2, 1]
PRED_AREA = [2, 2, 1]
LABEL_AREA = [1, 3, 1]
UNION = [2, 3, 1]


def test_intersect_and_union_hand_counts():
    areas = intersect_and_union(PRED, GT, num_classes=3, ignore_index=255)
    for got, want in zip(areas, (INTERSECT, UNION, PRED_AREA, LABEL_AREA)):
        assert got.dtype == torch.float64
        assert got.tolist() == want


def test_inputs_are_not_modified_and_tensors_accepted():
    gt = GT.copy()
    areas_np = intersect_and_union(PRED, gt, 3, 255, label_map={1: 0}, reduce_zero_label=True)
    assert np.array_equal(gt, GT)
    areas_t = intersect_and_union(torch.from_numpy(PRED), torch.from_numpy(GT), 3, 255, {1: 0}, True)
    for a, b in zip(areas_np, areas_t):
        assert torch.equal(a, b)


def test_reduce_zero_label():
    # raw gt 0 → ignored, c → c-1, raw 255 stays ignored (255-1=254 → 255)
    gt = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.uint8)
    pred = np.array([[1, 0, 1], [2, 0, 1]])
    # kept (pred, reduced gt): (0,0) (1,1) (2,2) (1,0)
    inter, union, pred_area, label_area = intersect_and_union(pred, gt, 3, 255, reduce_zero_label=True)
    assert inter.tolist() == [1, 1, 1]
    assert pred_area.tolist() == [1, 2, 1]
    assert label_area.tolist() == [2, 1, 1]
    assert union.tolist() == [2, 2, 1]


def test_label_map_does_not_cascade():
    gt = np.array([[1, 2]])
    pred = np.array([[2, 1]])
    # swapping 1 <-> 2 in the gt makes the prediction perfect
    inter, _, _, label_area = intersect_and_union(pred, gt, 3, 255, label_map={1: 2, 2: 1})
    assert inter.tolist() == [0, 1, 1]
    assert label_area.tolist() == [0, 1, 1]


def test_out_of_range_prediction_is_not_counted():
    inter, union, pred_area, label_area = intersect_and_union(np.array([[2, 0]]), np.array([[0, 0]]), 2, 255)
    assert pred_area.tolist() == [1, 0]
    assert label_area.tolist() == [2, 0]
    assert union.tolist() == [2, 0]


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r'\(2, 2\).*\(1, 4\)'):
        intersect_and_union(np.zeros((2, 2)), np.zeros((1, 4)), 2, 255)


def test_all_metrics_hand_values():
    res = eval_metrics([PRED], [GT], 3, 255, metrics=['mIoU', 'mDice', 'mFscore'])
    assert list(res) == ['aAcc', 'IoU', 'Acc', 'Dice', 'Fscore', 'Precision', 'Recall']
    np.testing.assert_allclose(res['aAcc'], 4 / 5)
    np.testing.assert_allclose(res['IoU'], [1 / 2, 2 / 3, 1])
    np.testing.assert_allclose(res['Acc'], [1, 2 / 3, 1])
    np.testing.assert_allclose(res['Dice'], [2 / 3, 4 / 5, 1])
    np.testing.assert_allclose(res['Precision'], [1 / 2, 1, 1])
    np.testing.assert_allclose(res['Recall'], [1, 2 / 3, 1])
    np.testing.assert_allclose(res['Fscore'], [2 / 3, 4 / 5, 1])  # F1 equals Dice


def test_fscore_beta():
    res = eval_metrics([PRED], [GT], 3, 255, metrics='mFscore', beta=2)
    # (1+4)PR / (4P+R): class 0 P=1/2 R=1 → 2.5/3; class 1 P=1 R=2/3 → (10/3)/(14/3)
    np.testing.assert_allclose(res['Fscore'], [5 / 6, 5 / 7, 1])


def test_absent_class_is_nan_and_excluded_from_mean():
    res = eval_metrics([PRED], [GT], 4, 255)  # class 3 appears in neither map
    assert np.isnan(res['IoU'][3]) and np.isnan(res['Acc'][3])
    np.testing.assert_allclose(np.nanmean(res['IoU']), (1 / 2 + 2 / 3 + 1) / 3)
    res0 = eval_metrics([PRED], [GT], 4, 255, nan_to_num=0)
    assert res0['IoU'][3] == 0


def test_dataset_accumulation_differs_from_per_image_mean():
    preds = [np.array([[0, 0, 0, 1]]), np.array([[1, 1]])]
    gts = [np.array([[0, 0, 0, 1]]), np.array([[0, 1]])]
    res = eval_metrics(preds, gts, 2, 255)
    # summed: I=[3,2], pred=[3,3], label=[4,2] → U=[4,3]
    np.testing.assert_allclose(res['IoU'], [3 / 4, 2 / 3])
    dataset_miou = np.nanmean(res['IoU'])
    per_image = np.mean([np.nanmean(eval_metrics([p], [g], 2, 255)['IoU']) for p, g in zip(preds, gts)])
    np.testing.assert_allclose(per_image, (1 + 0.25) / 2)
    assert not np.isclose(dataset_miou, per_image)


def test_unknown_metric_is_named():
    areas = intersect_and_union(PRED, GT, 3, 255)
    with pytest.raises(KeyError, match='mAP'):
        total_area_to_metrics(*areas, metrics=['mIoU', 'mAP'])


def test_png_path_input(tmp_path):
    from PIL import Image
    path = tmp_path / 'gt.png'
    Image.fromarray(GT).save(path)
    areas = intersect_and_union(PRED, str(path), 3, 255)
    assert areas[0].tolist() == INTERSECT
    with pytest.raises(OSError, match='missing.png'):
        intersect_and_union(PRED, str(tmp_path / 'missing.png'), 3, 255)
