"""Every shipped config resolves, builds its model, and builds its datasets on a tiny copy of its own layout."""
import copy
import glob
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg.datasets import build_dataset
from mmseg.models import build_segmentor
from mmseg.utils import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'local_configs', 'segnext', '*', 'segnext.*.py')))
# Spec §8: image and label suffixes, number of classes, zero-label reduction.
LAYOUT = {
    'ADE20KDataset': ('.jpg', '.png', 150, True),
    'CityscapesDataset': ('_leftImg8bit.png', '_gtFine_labelTrainIds.png', 19, False),
    'COCOStuffDataset': ('.jpg', '_labelTrainIds.png', 171, False),
    'PascalVOCDataset': ('.jpg', '.png', 21, False),
    'PascalContextDataset': ('.jpg', '.png', 60, False),
    'PascalContextDataset59': ('.jpg', '.png', 59, True),
    'iSAIDDataset': ('.png', '_instance_color_RGB.png', 16, False),
    'DemoDataset': ('.jpg', '.png', 4, True),
    # mmseg 0.24.1's remote-sensing, retinal-vessel and night-driving datasets
    'LoveDADataset': ('.png', '.png', 7, True),
    'PotsdamDataset': ('.png', '.png', 6, True),
    'ISPRSDataset': ('.png', '.png', 6, True),
    'DRIVEDataset': ('.png', '_manual1.png', 2, False),
    'STAREDataset': ('.png', '.ah.png', 2, False),
    'ChaseDB1Dataset': ('.png', '_1stHO.png', 2, False),
    'HRFDataset': ('.png', '.png', 2, False),
    'DarkZurichDataset': ('_rgb_anon.png', '_gt_labelTrainIds.png', 19, False),
    'NightDrivingDataset': ('_leftImg8bit.png', '_gtCoarse_labelTrainIds.png', 19, False),
}
# Dataset configs of the 0.24.1 families above (their crop, scale and wrapper as in 0.24.1's _base_/datasets).
EXTRA_DATASET_CONFIGS = {  # file: (type, train crop or None for test-only, train RepeatDataset times)
    'drive.py': ('DRIVEDataset', (64, 64), 40000), 'stare.py': ('STAREDataset', (128, 128), 40000),
    'chase_db1.py': ('ChaseDB1Dataset', (128, 128), 40000), 'hrf.py': ('HRFDataset', (256, 256), 40000),
    'potsdam.py': ('PotsdamDataset', (512, 512), None), 'vaihingen.py': ('ISPRSDataset', (512, 512), None),
    'loveda.py': ('LoveDADataset', (512, 512), None), 'dark_zurich.py': ('DarkZurichDataset', None, None),
    'night_driving.py': ('NightDrivingDataset', None, None),
}
VARIANT = {  # embed dims, head channels, MD_R, drop path (spec §1.1, §2.1)
    'tiny': ([32, 64, 160, 256], 256, 16, 0.1), 'small': ([64, 128, 320, 512], 256, 16, 0.1),
    'base': ([64, 128, 320, 512], 512, 64, 0.1), 'large': ([64, 128, 320, 512], 1024, 64, 0.3),
}


def test_every_variant_dataset_pair_is_shipped():
    names = {osp.basename(p) for p in CONFIGS}
    for size in VARIANT:
        for suffix in ('512x512.ade.160k', '1024x1024.city.160k', '512x512.coco_stuff164k.80k',
                       '512x512.voc12aug.80k', '480x480.pascal_context.80k', '480x480.pascal_context_59.80k',
                       '896x896.isaid.160k'):
            assert f'segnext.{size}.{suffix}.py' in names
    for suffix in ('64x64.drive.40k', '512x512.potsdam.80k', '512x512.vaihingen.80k', '512x512.loveda.80k'):
        assert f'segnext.tiny.{suffix}.py' in names


def _write_layout(data_root: str, ds_cfg: dict) -> None:
    """One image/label pair in the dataset's own folders (and split files), labels valid for its classes."""
    img_suffix, seg_suffix, num_classes, reduce_zero = LAYOUT[ds_cfg['type']]
    ann_dirs = ds_cfg.get('ann_dir')
    ann_dirs = ann_dirs if isinstance(ann_dirs, list) else [ann_dirs]
    splits = ds_cfg.get('split')
    splits = splits if isinstance(splits, list) else [splits] * len(ann_dirs)
    sub = 'city/' if ds_cfg['type'] == 'CityscapesDataset' else ''
    for k, (ann_dir, split) in enumerate(zip(ann_dirs, splits)):
        name = f'{sub}img{k}'
        img_path = osp.join(data_root, ds_cfg['img_dir'], name + img_suffix)
        ann_path = osp.join(data_root, ann_dir, name + seg_suffix)
        for p in (img_path, ann_path):
            os.makedirs(osp.dirname(p), exist_ok=True)
        cv2.imwrite(img_path, np.random.RandomState(k).randint(0, 255, (40, 60, 3), np.uint8))
        lab = np.zeros((40, 60), np.uint8)
        lab[:, 30:] = num_classes if reduce_zero else num_classes - 1  # the largest valid label
        lab[:20] = 1
        Image.fromarray(lab).save(ann_path)
        if split:
            os.makedirs(osp.dirname(osp.join(data_root, split)), exist_ok=True)
            with open(osp.join(data_root, split), 'a') as f:
                f.write(name + '\n')


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_config_builds_model_and_datasets(path, tmp_path):
    cfg = Config.fromfile(path)
    size = osp.basename(osp.dirname(path))
    dims, channels, md_r, dpr = VARIANT[size]
    model_cfg = copy.deepcopy(cfg.to_dict()['model'])
    assert model_cfg['backbone']['embed_dims'] == dims and model_cfg['backbone']['drop_path_rate'] == dpr
    head = model_cfg['decode_head']
    assert (head['channels'], head['ham_channels'], head['ham_kwargs']['MD_R']) == (channels, channels, md_r)
    if 'demo' not in path:  # the demo trains from scratch with its own recipe
        assert cfg.optimizer.lr == 6e-5 and cfg.lr_config.warmup_iters == 1500
        assert cfg.optimizer.paramwise_cfg.custom_keys.head.lr_mult == 10.0
    model = build_segmentor(model_cfg)
    ds_type = (cfg.data.train.get('dataset') or cfg.data.train)['type']
    assert model.num_classes == LAYOUT[ds_type][2]
    if 'city' in path:
        assert model.test_cfg == dict(mode='slide', crop_size=(1024, 1024), stride=(768, 768))

    for split in ('train', 'val'):
        ds_cfg = copy.deepcopy(cfg.data[split].to_dict())
        inner = ds_cfg.get('dataset', ds_cfg)
        inner['data_root'] = str(tmp_path / split)
        _write_layout(inner['data_root'], inner)
        dataset = build_dataset(ds_cfg)
        sample = dataset[0]
        if split == 'train':
            crop = next(t['crop_size'] for t in inner['pipeline'] if t['type'] == 'RandomCrop')
            assert tuple(sample['img'].shape) == (3, *crop)
            assert set(np.unique(sample['gt_semantic_seg'].numpy())) <= set(range(model.num_classes)) | {255}
        else:
            assert sample['img'][0].shape[0] == 3 and sample['img_metas'][0]['ori_shape'][:2] == (40, 60)


@pytest.mark.parametrize('name', sorted(EXTRA_DATASET_CONFIGS))
def test_extra_dataset_config_builds_each_split(name, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'local_configs', '_base_', 'datasets', name))
    kind, crop, times = EXTRA_DATASET_CONFIGS[name]
    splits = [s for s in ('train', 'val', 'test') if s in cfg.data]
    assert splits == (['test'] if crop is None else ['train', 'val', 'test'])
    if 'val' in splits and cfg.data.test.to_dict() == cfg.data.val.to_dict():
        splits.remove('test')  # the same dataset again
    for split in splits:
        ds_cfg = copy.deepcopy(cfg.data[split].to_dict())
        inner = ds_cfg.get('dataset', ds_cfg)
        assert inner['type'] == kind
        inner['data_root'] = str(tmp_path / split)
        _write_layout(inner['data_root'], inner)
        dataset = build_dataset(ds_cfg)
        np.random.seed(7)  # Resize's first draw gives ratio 0.61: keeps HRF's 3504-pixel scale cheap
        sample = dataset[0]
        if split == 'train':
            assert ds_cfg.get('times') == times and len(dataset) == (times or 1)
            assert tuple(sample['img'].shape) == (3, *crop)
            assert set(np.unique(sample['gt_semantic_seg'].numpy())) <= set(range(LAYOUT[kind][2])) | {255}
        else:
            assert sample['img_metas'][0]['ori_shape'][:2] == (40, 60)
