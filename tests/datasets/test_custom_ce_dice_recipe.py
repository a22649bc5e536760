"""The README's CE + Dice recipe for a custom dataset (text in /work/notes/issue20.md, "Custom dataset with
CE + Dice"): the README's custom-dataset config plus the override below (verbatim), saved next to it. It builds,
both losses are logged, and one backward step works."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('readme_custom',
                                               osp.join(ROOT, 'tests', 'test_readme_custom_dataset.py'))
readme_custom = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_custom)

OVERRIDE = """_base_ = ['./segnext.tiny.mine.py']
model = dict(decode_head=dict(loss_decode=[
    dict(type='CrossEntropyLoss', loss_name='loss_ce', loss_weight=1.0),
    dict(type='DiceLoss', loss_name='loss_dice', loss_weight=3.0)]))
evaluation = dict(metric=['mIoU', 'mDice', 'mFscore'])
"""


@pytest.mark.slow
def test_ce_dice_override_of_the_readme_custom_config(tmp_path):
    from mmseg.datasets import build_dataset
    from mmseg.models import build_segmentor
    from mmseg.utils import Config
    data = str(tmp_path / 'data' / 'mine')
    readme_custom._write_data(data)
    text = readme_custom.readme_config()
    text = text.replace("'../_base_/", repr(osp.join(ROOT, 'local_configs', '_base_')) + " + '/")
    (tmp_path / 'segnext.tiny.mine.py').write_text(text.replace("'data/mine'", repr(data)))
    (tmp_path / 'segnext.tiny.mine.ce_dice.py').write_text(OVERRIDE)
    cfg = Config.fromfile(str(tmp_path / 'segnext.tiny.mine.ce_dice.py'))
    assert list(cfg.evaluation.metric) == ['mIoU', 'mDice', 'mFscore']
    model_cfg = cfg.to_dict()['model']
    model_cfg['backbone']['depths'] = [1, 1, 1, 1]
    model = build_segmentor(model_cfg).train()
    assert [type(f).__name__ for f in model.decode_head.loss_decode] == ['CrossEntropyLoss', 'DiceLoss']
    np.random.seed(0)
    sample = build_dataset(cfg.data.train)[0]
    img = sample['img'].data[None][..., :128, :128].float()
    gt = sample['gt_semantic_seg'].data[None][..., :128, :128].long()
    losses = model.forward_train(img, [{}], gt)
    assert {'decode.loss_ce', 'decode.loss_dice'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert torch.isfinite(model.decode_head.conv_seg.weight.grad).all()
