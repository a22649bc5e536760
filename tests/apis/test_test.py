"""Test loops (evaluator feeding by dataset index, overlays, submission PNGs) and the overlay drawing."""
import os

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.apis.test import single_gpu_test, trainid_to_labelid
from mmseg.core.evaluation import SegEvaluator
from mmseg import datasets
from mmseg.core.visualization import draw_overlay
from mmseg.engine.data import build_eval_loader

PALETTE = [[128, 64, 128], [244, 35, 232], [70, 70, 70]]


class _Data(torch.utils.data.Dataset):
    """3 images of different sizes whose gt differs per index; the image stores its own index."""
    CLASSES = ('road', 'sidewalk', 'building')
    PALETTE = PALETTE
    reduce_zero_label = False
    ignore_index = 255

    def __init__(self, root):
        self.gts, self.files = [], []
        rng = np.random.RandomState(0)
        for i in range(3):
            h, w = 8 + i, 10
            self.gts.append(rng.randint(0, 3, (h, w)).astype(np.uint8))
            path = os.path.join(root, f'city_{i}_leftImg8bit.png')
            cv2.imwrite(path, np.full((h, w, 3), 40 * i, np.uint8))
            self.files.append(path)

    def __len__(self):
        return 3

    def __getitem__(self, i):
        h, w = self.gts[i].shape
        meta = dict(filename=self.files[i], ori_filename=os.path.basename(self.files[i]), idx=i)
        return {'img': [torch.full((3, h, w), float(i))], 'img_metas': [meta]}

    def get_gt_seg_map_by_idx(self, i):
        return self.gts[i]


class _Oracle(torch.nn.Module):
    """Predicts the gt of the image's own index, so any index mix-up lowers the score."""

    def __init__(self, gts):
        super().__init__()
        self.gts = gts
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, img, img_metas, return_loss=True, rescale=True):
        assert not return_loss and rescale
        return [self.gts[int(t[0, 0, 0])].astype(np.int64) for t in img[0]]


class CityscapesDataset(_Data, datasets.CityscapesDataset):
    """The tiny data above, typed as Cityscapes (the submission writer dispatches on the class)."""
    PALETTE = PALETTE


def test_single_gpu_test_feeds_evaluator_by_index(tmp_path):
    data = _Data(str(tmp_path))
    loader = build_eval_loader(data, samples_per_gpu=1)
    evaluator = SegEvaluator(3, class_names=data.CLASSES)
    preds = single_gpu_test(_Oracle(data.gts), loader, evaluator, show_dir=str(tmp_path / 'show'), keep_preds=True)
    assert [p.shape for p in preds] == [g.shape for g in data.gts]
    res = evaluator.evaluate(['mIoU'])
    assert res['mIoU'] == pytest.approx(1.0) and res['aAcc'] == pytest.approx(1.0)
    shown = cv2.imread(str(tmp_path / 'show' / 'city_1_leftImg8bit.png'))
    assert shown.shape[0] >= 9 and shown.shape[1] > 10  # overlay + legend panel


def test_format_only_cityscapes_writes_label_ids(tmp_path):
    data = CityscapesDataset(str(tmp_path))
    loader = build_eval_loader(data)
    out = single_gpu_test(_Oracle(data.gts), loader, format_only=True,
                          format_args=dict(imgfile_prefix=str(tmp_path / 'sub')))
    assert out == []
    png = np.array(Image.open(tmp_path / 'sub' / 'city_2_leftImg8bit.png'))
    expected = np.array([7, 8, 11])[data.gts[2]]  # road 7, sidewalk 8, building 11
    assert np.array_equal(png, expected)


def test_trainid_to_labelid_table():
    ids = trainid_to_labelid(np.array([[0, 5, 18, 255]]))
    assert ids.tolist() == [[7, 17, 33, 0]]


def test_draw_overlay_blend_and_legend():
    img = np.full((20, 30, 3), 100, np.uint8)
    seg = np.zeros((20, 30), np.int64)
    seg[:, 15:] = 2
    seg[0, 0] = 255  # outside the palette: stays the blended black
    out = draw_overlay(img, seg, PALETTE, opacity=0.25, legend=False)
    assert out.shape == img.shape
    bgr = np.array(PALETTE[2][::-1])
    assert np.abs(out[5, 20].astype(int) - (100 * 0.75 + bgr * 0.25)).max() <= 1
    assert np.abs(out[0, 0].astype(int) - 75).max() <= 1
    with_legend = draw_overlay(img, seg, PALETTE, class_names=('a', 'b', 'c'))
    assert with_legend.shape[0] >= 20 and with_legend.shape[1] > 30
    assert np.array_equal(with_legend[:20, :30], draw_overlay(img, seg, PALETTE, legend=False))
    panel = with_legend[:, 30:]
    # swatches of the present classes 0 and 2 are drawn, class 1 (absent) is not
    colours = {tuple(c) for c in panel.reshape(-1, 3)}
    assert tuple(PALETTE[0][::-1]) in colours and tuple(PALETTE[2][::-1]) in colours
    assert tuple(PALETTE[1][::-1]) not in colours
    with pytest.raises(ValueError, match='opacity'):
        draw_overlay(img, seg, PALETTE, opacity=2)
