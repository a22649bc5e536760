"""0.24.1's dataset API, called as MMSegmentation 0.24.1's own dataset tests call it (tests/test_data/
test_dataset.py there): get_gt_seg_maps, evaluate (maps and pre_eval), format_results, ConcatDataset(separate_eval),
LoadAnnotations(imdecode_backend=...), plus the protocol (leaves, label_path, format_prediction)."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmseg.core.evaluation import eval_metrics
from mmseg.datasets import ADE20KDataset, ConcatDataset, CustomDataset, RepeatDataset, build_dataset
from mmseg.datasets.pipelines import LoadAnnotations, LoadImageFromFile
from tests.datasets.helpers import label, write_pair


def _labels(seed):
    return np.random.RandomState(seed).randint(0, 7, (6, 8)).astype(np.uint8)


@pytest.fixture
def custom(tmp_path):
    for k in range(4):
        write_pair(str(tmp_path / f'imgs/{k}img.jpg'), str(tmp_path / f'gts/{k}gt.png'), _labels(k), seed=k)
    return CustomDataset([], data_root=str(tmp_path), img_dir='imgs/', ann_dir='gts/', img_suffix='img.jpg',
                         seg_map_suffix='gt.png', classes=tuple('abcdefg'))


def _pseudo(dataset, seed=0):
    rs = np.random.RandomState(seed)
    return [rs.randint(0, 7, gt.shape) for gt in dataset.get_gt_seg_maps()]


def test_get_gt_seg_maps_is_a_generator_of_the_labels(custom):
    maps = custom.get_gt_seg_maps()
    assert not isinstance(maps, list)
    maps = list(maps)
    assert len(maps) == 4 and all(np.array_equal(m, _labels(k)) for k, m in enumerate(maps))


def test_evaluate_maps_gives_0241_keys_and_values(custom):
    results = _pseudo(custom)
    res = custom.evaluate(results, metric='mIoU')
    assert {'aAcc', 'mIoU', 'mAcc', 'IoU.a', 'Acc.g'} <= set(res)
    ref = eval_metrics(results, [_labels(k) for k in range(4)], 7, 255, ['mIoU'])
    assert res['mIoU'] == pytest.approx(np.round(np.nanmean(ref['IoU']) * 100, 2) / 100)
    assert res['IoU.c'] == pytest.approx(np.round(ref['IoU'][2] * 100, 2) / 100)
    both = custom.evaluate(results, metric=['mDice', 'mIoU', 'mFscore'])
    assert {'mDice', 'mIoU', 'mFscore', 'mPrecision', 'mRecall', 'Dice.a'} <= set(both)
    with pytest.raises(KeyError, match='not supported'):
        custom.evaluate(results, metric='mAP')


def test_evaluate_pre_eval_results_equals_maps(custom):
    results = _pseudo(custom, 1)
    pre = []
    for idx, pred in enumerate(results):
        pre.extend(custom.pre_eval(pred, idx))
    assert custom.evaluate(pre, metric=['mIoU', 'mDice']) == custom.evaluate(results, metric=['mIoU', 'mDice'])


def test_evaluate_files(custom, tmp_path):
    results = _pseudo(custom, 2)
    files = []
    for k, r in enumerate(results):
        np.save(tmp_path / f'p{k}.npy', r)
        files.append(str(tmp_path / f'p{k}.npy'))
    assert custom.evaluate(files) == custom.evaluate(results)


def test_ade_format_results_adds_one_and_names_files_by_image(tmp_path):
    for k in range(3):
        write_pair(str(tmp_path / f'img/ADE_{k}.jpg'), None, label(0))
    ade = ADE20KDataset(pipeline=[], img_dir=str(tmp_path / 'img'))
    preds = [np.random.RandomState(k).randint(0, 150, (6, 8)) for k in range(3)]
    files = ade.format_results(preds, str(tmp_path / 'out'))
    assert [osp.basename(f) for f in files] == ['ADE_0.png', 'ADE_1.png', 'ADE_2.png']
    assert np.array_equal(np.array(Image.open(files[1])), preds[1] + 1)
    part = ade.format_results(preds[:1], str(tmp_path / 'part'), indices=[2])
    assert osp.basename(part[0]) == 'ADE_2.png'
    with pytest.raises(TypeError, match='lists'):
        ade.format_results(preds[0], str(tmp_path / 'x'))


def test_concat_separate_eval(custom):
    results = _pseudo(custom)
    sep = ConcatDataset([custom, custom], separate_eval=True)
    res = sep.evaluate(results * 2, metric='mIoU')
    single = custom.evaluate(results, metric='mIoU')
    assert res['0_mIoU'] == res['1_mIoU'] == single['mIoU'] and '1_IoU.a' in res
    joint = ConcatDataset([custom, custom], separate_eval=False).evaluate(results * 2, metric='mIoU')
    assert joint == single  # the same images twice: the same ratios
    joint_pre = ConcatDataset([custom, custom], separate_eval=False)
    pre = joint_pre.pre_eval(results * 2, list(range(8)))
    assert joint_pre.evaluate(pre) == single
    with pytest.raises(ValueError, match='results for'):
        sep.evaluate(results)
    with pytest.raises(ValueError, match='separate_eval'):
        ConcatDataset([custom], separate_eval='yes')
    built = build_dataset(dict(type='ConcatDataset', separate_eval=False, datasets=[
        dict(type='CustomDataset', pipeline=[], img_dir=custom.img_dir, ann_dir=custom.ann_dir,
             img_suffix='img.jpg', seg_map_suffix='gt.png')]))
    assert built.separate_eval is False


def test_concat_format_results_per_dataset_folder(custom, tmp_path):
    results = _pseudo(custom)
    files = ConcatDataset([custom, custom]).format_results(results * 2, str(tmp_path / 'fmt'))
    assert len(files) == 8 and files[5] == str(tmp_path / 'fmt' / '1' / '1img.png')


def test_protocol_through_wrappers(custom):
    rep = RepeatDataset(ConcatDataset([custom, custom]), 3)
    assert rep.leaves() == [custom, custom]
    assert rep.label_path(13) == osp.join(custom.ann_dir, '1gt.png')  # 13 % 8 = 5 → second dataset, sample 1
    assert np.array_equal(rep.get_gt_seg_map_by_idx(13), _labels(1))
    pred = np.array([[0, 6]])
    assert np.array_equal(np.array(rep.format_prediction(pred, 13)), pred)
    with pytest.raises(IndexError):
        rep.label_path(24)


def test_load_annotations_and_image_accept_0241_io_args():
    assert 'pillow' in repr(LoadAnnotations(imdecode_backend='pillow', file_client_args=dict(backend='disk')))
    LoadImageFromFile(imdecode_backend='cv2', file_client_args=dict(backend='disk'))
    with pytest.raises(ValueError, match="imdecode_backend='pillow'"):
        LoadAnnotations(imdecode_backend='cv2')
    with pytest.raises(ValueError, match='only local files'):
        LoadImageFromFile(file_client_args=dict(backend='petrel'))


def test_build_loss_head_backbone():
    import torch

    from mmseg.models import build_backbone, build_head, build_loss, build_neck
    loss = build_loss(dict(type='DiceLoss', loss_weight=3.0))
    assert type(loss).__name__ == 'DiceLoss' and loss.loss_weight == 3.0
    head = build_head(dict(type='LightHamHead', in_channels=[8, 8, 8], in_index=[1, 2, 3], channels=8,
                           ham_channels=8, num_classes=3, norm_cfg=dict(type='GN', num_groups=4),
                           ham_kwargs=dict(MD_R=4)))
    backbone = build_backbone(dict(type='MSCAN', embed_dims=[4, 8, 8, 8], depths=[1, 1, 1, 1],
                                   mlp_ratios=[2, 2, 2, 2], norm_cfg=dict(type='BN', requires_grad=True)))
    with torch.no_grad():
        out = head.eval()(backbone.eval()(torch.randn(1, 3, 32, 32)))
    assert out.shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match='no necks'):
        build_neck(dict(type='FPN'))
