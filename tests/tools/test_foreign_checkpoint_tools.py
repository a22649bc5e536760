"""The checkpoints MMSegmentation 1.2.2's Runner and mmcv 1.x wrote (tests/fixtures/foreign_checkpoints) go through
tools/test.py and tools/train.py --load-from (fine-tuning, no --resume) with no flag."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmseg.utils import Config
from tests.conftest import load_script
from tests.tools.demo_data import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'fixtures' / 'foreign_checkpoints'
CLASSES = ['sky', 'road', 'car', 'tree', 'person']
PALETTE = [[70, 130, 180], [128, 64, 128], [0, 0, 142], [107, 142, 35], [220, 20, 60]]


@pytest.fixture(scope='module')
def micro_config(tmp_path_factory):
    """The demo runtime with the micro model of the fixtures and a generated 5-class dataset."""
    base = tmp_path_factory.mktemp('foreign_tools')
    rng = np.random.RandomState(0)
    for sub in ('img', 'ann'):
        (base / 'data' / sub).mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.randint(0, 256, (64, 64, 3), dtype=np.uint8)).save(base / 'data' / 'img' / f'{i}.png')
        Image.fromarray(rng.randint(0, 5, (64, 64), dtype=np.uint8)).save(base / 'data' / 'ann' / f'{i}.png')
    model = Config.fromfile(str(FIXTURES / 'segnext_micro.py')).model.to_dict()
    norm = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
    train = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='RandomFlip', prob=0.0),
             dict(type='Normalize', **norm),
             dict(type='DefaultFormatBundle'), dict(type='Collect', keys=['img', 'gt_semantic_seg'])]
    test = [dict(type='LoadImageFromFile'),
            dict(type='MultiScaleFlipAug', img_scale=(64, 64), flip=False,
                 transforms=[dict(type='Resize', keep_ratio=True), dict(type='Normalize', **norm),
                             dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img'])])]
    ds = dict(type='CustomDataset', classes=CLASSES, palette=PALETTE, data_root=str(base / 'data'), img_dir='img',
              ann_dir='ann', img_suffix='.png', seg_map_suffix='.png')
    path = base / 'micro_custom.py'
    path.write_text(f"_base_ = [{DEMO_CONFIG!r}]\nmodel = dict(_delete_=True, **{model!r})\n"
                    f"data = dict(_delete_=True, samples_per_gpu=1, workers_per_gpu=0, "
                    f"train=dict(pipeline={train!r}, **{ds!r}), val=dict(pipeline={test!r}, **{ds!r}), "
                    f"test=dict(pipeline={test!r}, **{ds!r}))\n")
    return str(path)


@pytest.mark.parametrize('ckpt', ['mmengine_iter_2.pth', 'mmcv1_iter_2.pth'])
def test_test_tool_evaluates_foreign_checkpoint(ckpt, micro_config, tmp_path):
    tool = load_script('tools/test.py')
    assert tool.main([micro_config, str(FIXTURES / ckpt), '--eval', 'mIoU', '--work-dir', str(tmp_path),
                      '--no-fuse']) == 0
    log = next(tmp_path.glob('test_*.log')).read_text()
    assert 'loaded 208/208 tensors' in log and 'ignored top-level keys (training state)' in log
    assert list(tmp_path.glob('eval_*.json'))


def test_fine_tune_from_mmengine_checkpoint(micro_config, tmp_path):
    train = load_script('tools/train.py')
    assert train.main([micro_config, '--load-from', str(FIXTURES / 'mmengine_iter_2.pth'), '--work-dir',
                       str(tmp_path), '--no-validate', '--seed', '0', '--cfg-options', 'runner.max_iters=1',
                       'checkpoint_config.interval=1', 'log_config.interval=1', 'lr_config.warmup_iters=1']) == 0
    log = next(tmp_path.glob('*.log')).read_text()
    assert 'loaded 208/208 tensors (backbone 195/195, head 13/13) from ' in log
    assert 'mmengine_iter_2.pth [layout: mmseg]' in log and 'inert placeholders' in log
    assert list(tmp_path.glob('iter_1*.pth'))
