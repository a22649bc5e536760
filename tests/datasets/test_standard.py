"""Each benchmark dataset finds files in its own layout and loads a sample (spec §8)."""
import os.path as osp

import pytest

from mmseg.datasets import (ADE20KDataset, build_dataset, CityscapesDataset, COCOStuffDataset, ConcatDataset,
                            iSAIDDataset, PascalContextDataset, PascalContextDataset59, PascalVOCDataset)
from .helpers import TRAIN_PIPELINE, TRAIN_PIPELINE_RZL, label, write_pair, write_split


def _rows(sample):
    return sample['gt_semantic_seg'][0, 0, :4].tolist()


def test_ade20k(tmp_path):
    root = str(tmp_path)
    for n in ('ADE_val_00000002', 'ADE_val_00000001'):
        write_pair(osp.join(root, 'images/validation', n + '.jpg'),
                   osp.join(root, 'annotations/validation', n + '.png'), label((0, 1, 150, 255)))
    ds = ADE20KDataset(pipeline=TRAIN_PIPELINE_RZL, data_root=root, img_dir='images/validation',
                       ann_dir='annotations/validation')
    assert len(ds.CLASSES) == len(ds.PALETTE) == 150 and ds.reduce_zero_label and ds.ignore_index == 255
    assert ds.CLASSES[0] == 'wall' and ds.CLASSES[-1] == 'flag' and ds.PALETTE[0] == [120, 120, 120]
    assert ds.img_infos[0]['filename'] == 'ADE_val_00000001.jpg'
    assert _rows(ds[0]) == [255, 0, 149, 255]
    assert ds.get_gt_seg_map_by_idx(0)[0, :4].tolist() == [0, 1, 150, 255]  # raw, no reduction
    # without reduce_zero_label in the pipeline the raw 150 is out of range and named
    ds.pipeline = type(ds.pipeline)(TRAIN_PIPELINE)
    with pytest.raises(ValueError, match='value 150 .*150 classes'):
        ds[0]


def test_cityscapes(tmp_path):
    root = str(tmp_path)
    for city, n in (('zurich', 'zurich_000000_000019'), ('aachen', 'aachen_000001_000019')):
        write_pair(osp.join(root, 'leftImg8bit/val', city, n + '_leftImg8bit.png'),
                   osp.join(root, 'gtFine/val', city, n + '_gtFine_labelTrainIds.png'), label((0, 18, 255)))
    ds = CityscapesDataset(pipeline=TRAIN_PIPELINE, data_root=root, img_dir='leftImg8bit/val', ann_dir='gtFine/val')
    assert len(ds.CLASSES) == len(ds.PALETTE) == 19 and ds.CLASSES[0] == 'road' and ds.PALETTE[-1] == [119, 11, 32]
    assert ds.img_infos[0]['ann']['seg_map'] == 'aachen/aachen_000001_000019_gtFine_labelTrainIds.png'
    assert _rows(ds[1]) == [0, 18, 255, 0]


def _voc(root, ann_dir='SegmentationClass', names=('2007_000032', '2007_000039'), values=(0, 20, 255)):
    for n in names:
        write_pair(osp.join(root, 'JPEGImages', n + '.jpg'), osp.join(root, ann_dir, n + '.png'), label(values))


def test_pascal_voc_and_aug_concat(tmp_path):
    root = str(tmp_path)
    _voc(root)
    _voc(root, 'SegmentationClassAug', names=('2008_000001',), values=(3, 4))
    write_split(osp.join(root, 'ImageSets/Segmentation/train.txt'), ['2007_000039'])
    write_split(osp.join(root, 'ImageSets/Segmentation/aug.txt'), ['2008_000001'])
    ds = PascalVOCDataset(pipeline=TRAIN_PIPELINE, data_root=root, img_dir='JPEGImages', ann_dir='SegmentationClass',
                          split='ImageSets/Segmentation/train.txt')
    assert len(ds) == 1 and len(ds.CLASSES) == len(ds.PALETTE) == 21 and ds.CLASSES[20] == 'tvmonitor'
    assert _rows(ds[0]) == [0, 20, 255, 0]
    with pytest.raises(TypeError):
        PascalVOCDataset(pipeline=TRAIN_PIPELINE, data_root=root, img_dir='JPEGImages')
    aug = build_dataset(dict(type='PascalVOCDataset', pipeline=TRAIN_PIPELINE, data_root=root, img_dir='JPEGImages',
                             ann_dir=['SegmentationClass', 'SegmentationClassAug'],
                             split=['ImageSets/Segmentation/train.txt', 'ImageSets/Segmentation/aug.txt']))
    assert isinstance(aug, ConcatDataset) and len(aug) == 2 and aug.CLASSES == ds.CLASSES
    assert _rows(aug[0]) == [0, 20, 255, 0] and _rows(aug[1]) == [3, 4, 3, 4]  # each split with its own ann_dir
    assert aug.get_gt_seg_map_by_idx(1)[0, :2].tolist() == [3, 4]


def test_pascal_context_60_and_59(tmp_path):
    root = str(tmp_path)
    _voc(root, 'SegmentationClassContext', values=(0, 1, 59))
    write_split(osp.join(root, 'ImageSets/SegmentationContext/val.txt'), ['2007_000032'])
    kw = dict(data_root=root, img_dir='JPEGImages', ann_dir='SegmentationClassContext',
              split='ImageSets/SegmentationContext/val.txt')
    ds60 = PascalContextDataset(pipeline=TRAIN_PIPELINE, **kw)
    assert len(ds60.CLASSES) == len(ds60.PALETTE) == 60 and ds60.CLASSES[0] == 'background'
    assert not ds60.reduce_zero_label and _rows(ds60[0]) == [0, 1, 59, 0]
    ds59 = PascalContextDataset59(pipeline=TRAIN_PIPELINE_RZL, **kw)
    assert len(ds59.CLASSES) == len(ds59.PALETTE) == 59 and ds59.CLASSES[0] == 'aeroplane' and ds59.reduce_zero_label
    assert ds59.PALETTE[0] == ds60.PALETTE[1]
    assert _rows(ds59[0]) == [255, 0, 58, 255]


def test_coco_stuff(tmp_path):
    root = str(tmp_path)
    write_pair(osp.join(root, 'images/val2017/000000000139.jpg'),
               osp.join(root, 'annotations/val2017/000000000139_labelTrainIds.png'), label((0, 170, 255)))
    ds = COCOStuffDataset(pipeline=TRAIN_PIPELINE, data_root=root, img_dir='images/val2017',
                          ann_dir='annotations/val2017')
    assert len(ds.CLASSES) == len(ds.PALETTE) == 171 and ds.CLASSES[-1] == 'wood'
    assert _rows(ds[0]) == [0, 170, 255, 0]


def test_isaid_name_rule(tmp_path):
    root = str(tmp_path)
    n = 'P0001_0_896_0_896'
    write_pair(osp.join(root, 'img_dir/val', n + '.png'),
               osp.join(root, 'ann_dir/val', n + '_instance_color_RGB.png'), label((0, 15, 255)))
    ds = iSAIDDataset(pipeline=TRAIN_PIPELINE, data_root=root, img_dir='img_dir/val', ann_dir='ann_dir/val')
    assert len(ds.CLASSES) == len(ds.PALETTE) == 16 and ds.CLASSES[-1] == 'Harbor'
    assert ds.img_infos[0]['ann']['seg_map'] == n + '_instance_color_RGB.png'
    assert _rows(ds[0]) == [0, 15, 255, 0]
    write_split(osp.join(root, 'val.txt'), [n])
    ds = iSAIDDataset(pipeline=TRAIN_PIPELINE, data_root=root, img_dir='img_dir/val', ann_dir='ann_dir/val',
                      split='val.txt')
    assert ds.img_infos[0]['ann']['seg_map'] == n + '_instance_color_RGB.png'
