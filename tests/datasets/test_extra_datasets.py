"""LoveDA, Potsdam, Vaihingen (ISPRS), DRIVE, STARE, CHASE_DB1, HRF, Dark Zurich, Nighttime Driving: each on tiny
files in its own folder layout and suffixes, with 0.24.1's classes, palette and zero-label handling; and
MultiImageMixDataset."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmseg.datasets import MultiImageMixDataset, build_dataset
from mmseg.datasets.remote_sensing import LoveDADataset
from tests.datasets.helpers import TRAIN_PIPELINE, TRAIN_PIPELINE_RZL, label, write_pair

# type: (img_dir, ann_dir, image name, label name, classes, first/last class, reduce_zero_label)
CASES = {
    'LoveDADataset': ('img_dir/train', 'ann_dir/train', '2522.png', '2522.png', 7, ('background', 'agricultural'),
                      True),
    'PotsdamDataset': ('img_dir/train', 'ann_dir/train', '2_10_0_0_512_512.png', '2_10_0_0_512_512.png', 6,
                       ('impervious_surface', 'clutter'), True),
    'ISPRSDataset': ('img_dir/val', 'ann_dir/val', 'area2_0_0_512_512.png', 'area2_0_0_512_512.png', 6,
                     ('impervious_surface', 'clutter'), True),
    'DRIVEDataset': ('images/training', 'annotations/training', '21.png', '21_manual1.png', 2,
                     ('background', 'vessel'), False),
    'STAREDataset': ('images/training', 'annotations/training', 'im0001.png', 'im0001.ah.png', 2,
                     ('background', 'vessel'), False),
    'ChaseDB1Dataset': ('images/validation', 'annotations/validation', 'Image_01L.png', 'Image_01L_1stHO.png', 2,
                        ('background', 'vessel'), False),
    'HRFDataset': ('images/training', 'annotations/training', '01_h.png', '01_h.png', 2, ('background', 'vessel'),
                   False),
    'DarkZurichDataset': ('rgb_anon/val/night/GOPR0356', 'gt/val/night/GOPR0356',
                          'GOPR0356_frame_000321_rgb_anon.png', 'GOPR0356_frame_000321_gt_labelTrainIds.png', 19,
                          ('road', 'bicycle'), False),
    'NightDrivingDataset': ('leftImg8bit/test/night', 'gtCoarse_daytime_trainvaltest/test/night',
                            '0_frame_0000_leftImg8bit.png', '0_frame_0000_gtCoarse_labelTrainIds.png', 19,
                            ('road', 'bicycle'), False),
}
PALETTES = {  # first colour of each 0.24.1 palette
    'LoveDADataset': [255, 255, 255], 'PotsdamDataset': [255, 255, 255], 'ISPRSDataset': [255, 255, 255],
    'DRIVEDataset': [120, 120, 120], 'DarkZurichDataset': [128, 64, 128],
}


@pytest.mark.parametrize('kind', sorted(CASES))
def test_dataset_in_its_own_layout(kind, tmp_path):
    img_dir, ann_dir, img_name, ann_name, n_cls, (first, last), rzl = CASES[kind]
    lab = label((0, 1, n_cls) if rzl else (0, 1, n_cls - 1, 255))
    write_pair(str(tmp_path / img_dir / img_name), str(tmp_path / ann_dir / ann_name), lab)
    # a second, unlabelled file with another suffix must not be picked up as an image
    write_pair(str(tmp_path / img_dir / 'notes.jpg'), None, lab)
    ds = build_dataset(dict(type=kind, data_root=str(tmp_path), img_dir=img_dir, ann_dir=ann_dir,
                            pipeline=TRAIN_PIPELINE_RZL if rzl else TRAIN_PIPELINE))
    assert len(ds) == 1 and ds.img_infos[0] == dict(filename=img_name, ann=dict(seg_map=ann_name))
    assert len(ds.CLASSES) == n_cls == len(ds.PALETTE) and (ds.CLASSES[0], ds.CLASSES[-1]) == (first, last)
    assert ds.reduce_zero_label is rzl and ds.ignore_index == 255
    if kind in PALETTES:
        assert list(ds.PALETTE[0]) == PALETTES[kind]
    gt = ds[0]['gt_semantic_seg'][0]
    if rzl:  # 0 → 255, k → k - 1: the largest on-disk label is the last class
        assert gt[0, :3].tolist() == [255, 0, n_cls - 1]
    else:
        assert gt[0, :4].tolist() == [0, 1, n_cls - 1, 255]
    np.testing.assert_array_equal(ds.get_gt_seg_map_by_idx(0), lab)  # as stored, no reduction


def test_potsdam_and_vaihingen_palettes_follow_the_isprs_legend():
    from mmseg.datasets import ISPRSDataset, PotsdamDataset
    assert PotsdamDataset.PALETTE == ISPRSDataset.PALETTE == [
        [255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]]
    assert LoveDADataset.PALETTE[4] == [159, 129, 183]


def test_loveda_submission_keeps_0_to_6():
    pred = np.array([[0, 6]], dtype=np.int64)
    out = np.asarray(LoveDADataset.__new__(LoveDADataset).format_prediction(pred))  # needs no files
    assert out.dtype == np.uint8 and out.tolist() == [[0, 6]]


def test_suffix_override_and_missing_dir(tmp_path):
    write_pair(str(tmp_path / 'images/training/21.png'), str(tmp_path / 'annotations/training/21_manual2.png'),
               label((0, 1)))
    ds = build_dataset(dict(type='DRIVEDataset', data_root=str(tmp_path), img_dir='images/training',
                            ann_dir='annotations/training', seg_map_suffix='_manual2.png', pipeline=TRAIN_PIPELINE))
    assert ds.img_infos[0]['ann']['seg_map'] == '21_manual2.png'
    with pytest.raises(FileNotFoundError, match='images/validation'):
        build_dataset(dict(type='DRIVEDataset', data_root=str(tmp_path), img_dir='images/validation',
                           pipeline=TRAIN_PIPELINE))


class _Toy:
    """Four 2×2 samples with constant values 10, 20, 30, 40 (un-collated results, like a loading-only dataset)."""
    CLASSES = ('a', 'b')
    PALETTE = [[0, 0, 0], [1, 1, 1]]

    def __init__(self):
        self.calls = []

    def __len__(self):
        return 4

    def __getitem__(self, i):
        self.calls.append(i)
        v = np.full((2, 2), 10 * (i + 1), np.uint8)
        return dict(img=np.dstack([v] * 3), gt_semantic_seg=v.copy(), seg_fields=['gt_semantic_seg'])

    def get_gt_seg_map_by_idx(self, i):
        return np.full((2, 2), 10 * (i + 1), np.uint8)


def test_multi_image_mix_dataset_fetches_mix_samples():
    toy = _Toy()
    mix = MultiImageMixDataset(toy, [dict(type='RandomMosaic', prob=1, img_scale=(2, 2),
                                          center_ratio_range=(1.0, 1.0))])
    assert len(mix) == 4 and mix.CLASSES == toy.CLASSES and mix.PALETTE == toy.PALETTE
    np.random.seed(0)
    rs = np.random.RandomState(0)
    others = [rs.randint(0, 4) for _ in range(3)]
    out = mix[1]
    assert toy.calls == [1] + others and 'mix_results' not in out
    quads = [out['gt_semantic_seg'][:2, :2], out['gt_semantic_seg'][:2, 2:], out['gt_semantic_seg'][2:, :2],
             out['gt_semantic_seg'][2:, 2:]]
    assert [int(q[0, 0]) for q in quads] == [20] + [10 * (k + 1) for k in others]
    assert np.all(np.concatenate([q.ravel() == q[0, 0] for q in quads]))
    np.testing.assert_array_equal(mix.get_gt_seg_map_by_idx(2), np.full((2, 2), 30))

    mix.update_skip_type_keys(['RandomMosaic'])
    toy.calls.clear()
    assert mix[3]['img'].shape == (2, 2, 3) and toy.calls == [3]


def test_multi_image_mix_dataset_from_config(tmp_path):
    for k in range(3):
        write_pair(str(tmp_path / f'img/{k}.jpg'), str(tmp_path / f'ann/{k}.png'), label((0, 1)), seed=k)
    load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    ds = build_dataset(dict(
        type='MultiImageMixDataset',
        dataset=dict(type='CustomDataset', data_root=str(tmp_path), img_dir='img', ann_dir='ann', pipeline=load,
                     classes=('x', 'y')),
        pipeline=[dict(type='RandomMosaic', prob=1, img_scale=(6, 8)), dict(type='DefaultFormatBundle'),
                  dict(type='Collect', keys=['img', 'gt_semantic_seg'], meta_keys=())]))
    sample = ds[0]
    assert tuple(sample['img'].shape) == (3, 12, 16) and sample['gt_semantic_seg'].dtype == torch.int64
    assert set(np.unique(sample['gt_semantic_seg'].numpy())) <= {0, 1, 255}
    with pytest.raises(TypeError, match='pipeline'):
        MultiImageMixDataset(_Toy(), dict(type='RandomMosaic', prob=1))
    with pytest.raises(TypeError, match='skip_type_keys'):
        MultiImageMixDataset(_Toy(), [], skip_type_keys=[1])


def test_classes_list_stays_list(tmp_path):
    write_pair(str(tmp_path / 'images/training/21.png'), str(tmp_path / 'annotations/training/21_manual1.png'),
               label((0, 1)))
    ds = build_dataset(dict(type='DRIVEDataset', data_root=str(tmp_path), img_dir='images/training',
                            ann_dir='annotations/training', pipeline=TRAIN_PIPELINE, classes=['vessel']))
    assert ds.CLASSES == ['vessel'] and isinstance(ds.CLASSES, list) and ds.label_map == {0: -1, 1: 0}
    assert osp.basename(ds.img_dir) == 'training'
