"""build_dataset, collate, the loaders and worker seeding."""
import os.path as osp

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from mmseg.datasets import (build_dataset, collate, ConcatDataset, RepeatDataset,
                            worker_init_fn)
from mmseg.utils import ConfigKeyError
from .helpers import TRAIN_PIPELINE, label, write_pair


def _cfg(root, n=2):
    for i in range(n):
        write_pair(osp.join(root, 'img', f'{i}.jpg'), osp.join(root, 'ann', f'{i}.png'), label((0, 1)))
    return dict(type='CustomDataset', pipeline=TRAIN_PIPELINE, data_root=root, img_dir='img', ann_dir='ann',
                classes=('a', 'b'))


def test_build_dataset_wrappers(tmp_path):
    cfg = _cfg(str(tmp_path))
    rep = build_dataset(dict(type='RepeatDataset', times=3, dataset=cfg))
    assert isinstance(rep, RepeatDataset) and len(rep) == 6 and rep.CLASSES == ('a', 'b')
    cat = build_dataset(dict(type='ConcatDataset', datasets=[cfg, cfg]))
    assert isinstance(cat, ConcatDataset) and len(cat) == 4
    assert len(build_dataset([cfg, cfg, cfg])) == 6
    with pytest.raises(ConfigKeyError, match='CustomDatset'):
        build_dataset(dict(cfg, type='CustomDatset'))
    with pytest.raises(ConfigKeyError, match='img_dirs'):
        build_dataset(dict(cfg, img_dirs='x'))


def _train_sample(h, w, v=0):
    return dict(img=torch.full((3, h, w), float(v)), gt_semantic_seg=torch.full((1, h, w), v, dtype=torch.int64),
                img_metas=dict(i=v))


def test_collate_train_batch():
    batch = collate([_train_sample(4, 5, 1), _train_sample(4, 5, 2)])
    assert batch['img'].shape == (2, 3, 4, 5) and batch['gt_semantic_seg'].shape == (2, 1, 4, 5)
    assert batch['gt_semantic_seg'].dtype == torch.int64 and batch['img_metas'] == [dict(i=1), dict(i=2)]
    padded = collate([_train_sample(4, 5, 1), _train_sample(2, 6, 2)])
    assert padded['img'].shape == (2, 3, 4, 6)
    assert padded['img'][1, 0, 3, 0] == 0 and padded['gt_semantic_seg'][1, 0, 3, 0] == 255
    assert padded['gt_semantic_seg'][0, 0, 0, 5] == 255 and padded['gt_semantic_seg'][1, 0, 1, 5] == 2


def test_collate_test_batch():
    def sample(v):
        return dict(img=[torch.zeros(3, 4, 4) + v, torch.zeros(3, 8, 8) + v],
                    img_metas=[dict(aug=0, i=v), dict(aug=1, i=v)])

    batch = collate([sample(1), sample(2), sample(3)])
    assert [tuple(t.shape) for t in batch['img']] == [(3, 3, 4, 4), (3, 3, 8, 8)]
    assert batch['img'][1][2, 0, 0, 0] == 3
    assert [[m['i'] for m in metas] for metas in batch['img_metas']] == [[1, 2, 3], [1, 2, 3]]
    assert [metas[0]['aug'] for metas in batch['img_metas']] == [0, 1]


def test_worker_init_fn_seed():
    worker_init_fn(worker_id=1, num_workers=2, rank=3, seed=10)  # 2*3 + 1 + 10 = 17
    got = np.random.random_sample()
    np.random.seed(17)
    assert got == np.random.random_sample()


class _RandomDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(img=torch.tensor([np.random.random_sample()]).view(1, 1, 1), img_metas=dict(i=i))


def test_eval_loader_batches_in_order(tmp_path):
    from mmseg.engine.data import build_eval_loader
    ds = build_dataset(_cfg(str(tmp_path), n=3))
    batches = list(build_eval_loader(ds, samples_per_gpu=2))
    assert [b['img'].shape[0] for b in batches] == [2, 1]
    assert batches[0]['gt_semantic_seg'].shape == (2, 1, 6, 8)


def test_workers_are_seeded():
    from mmseg.engine.data import build_train_loader

    def draws(seed):
        it = iter(build_train_loader(_RandomDataset(), 2, 1, seed=seed, shuffle=False))
        out = torch.cat([next(it)['img'].flatten() for _ in range(2)])
        del it
        return out

    a, b, c = draws(5), draws(5), draws(6)
    assert torch.equal(a, b) and not torch.equal(a, c)


_REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_LAYOUTS = {  # config -> (image path, label path, label values) with {s} the split folder
    'ade20k_repeat.py': [('images/{s}/a.jpg', 'annotations/{s}/a.png', (0, 1, 150))],
    'cityscapes_1024x1024_repeat.py': [('leftImg8bit/{s}/c/x_leftImg8bit.png',
                                        'gtFine/{s}/c/x_gtFine_labelTrainIds.png', (0, 18, 255))],
    'coco-stuff164k.py': [('images/{s}/a.jpg', 'annotations/{s}/a_labelTrainIds.png', (0, 170))],
    'isaid.py': [('img_dir/{s}/P1_0_896_0_896.png', 'ann_dir/{s}/P1_0_896_0_896_instance_color_RGB.png', (0, 15))],
    'pascal_context.py': [('JPEGImages/a.jpg', 'SegmentationClassContext/a.png', (0, 59))],
    'pascal_context_59.py': [('JPEGImages/a.jpg', 'SegmentationClassContext/a.png', (0, 59))],
    'pascal_voc12_aug.py': [('JPEGImages/a.jpg', 'SegmentationClass/a.png', (0, 20)),
                            ('JPEGImages/b.jpg', 'SegmentationClassAug/b.png', (0, 20))],
}


@pytest.mark.parametrize('name', sorted(_LAYOUTS))
def test_shipped_dataset_configs_build_and_load(tmp_path, name):
    path = osp.join(_REPO, 'local_configs/_base_/datasets', name)
    if not osp.isfile(path):
        pytest.skip(f'{path} not present')
    from mmseg.utils.config import Config
    from .helpers import write_split
    cfg = Config.fromfile(path)
    root = str(tmp_path)
    for s in ('training', 'validation', 'train', 'val', 'train2017', 'val2017'):
        for img, ann, values in _LAYOUTS[name]:
            write_pair(osp.join(root, img.format(s=s)), osp.join(root, ann.format(s=s)), label(values, 40, 60))
    for sub in ('ImageSets/Segmentation', 'ImageSets/SegmentationContext'):
        for split in ('train', 'val', 'trainaug'):
            write_split(osp.join(root, sub, split + '.txt'), ['a'])
        write_split(osp.join(root, sub, 'aug.txt'), ['b'])

    def rooted(d):
        d = dict(d)
        if 'dataset' in d:
            d['dataset'] = rooted(d['dataset'])
        d['data_root'] = root if 'data_root' in d else d.get('data_root')
        return {k: v for k, v in d.items() if v is not None}

    train = build_dataset(rooted(cfg.data.train))
    crop = train[0]['img'].shape
    assert train[0]['gt_semantic_seg'].shape == (1,) + tuple(crop[1:])
    val = build_dataset(rooted(cfg.data.val), dict(test_mode=True))
    batch = collate([val[0]])
    assert all(t.shape[0] == 1 and t.shape[1] == 3 for t in batch['img'])
    assert len(val.get_gt_seg_map_by_idx(0).shape) == 2
