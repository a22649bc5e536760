"""Submission PNGs per dataset family: Cityscapes subclasses write label IDs, LoveDA its indices as they are."""
import numpy as np
from PIL import Image

from mmseg.core.evaluation.loop import _write_formatted
from mmseg.datasets import ADE20KDataset, CityscapesDataset
from mmseg.datasets.night import DarkZurichDataset
from mmseg.datasets.remote_sensing import LoveDADataset


def _bare(cls, reduce_zero_label):
    ds = object.__new__(cls)  # only the class and these attributes matter for formatting
    ds.reduce_zero_label, ds.PALETTE = reduce_zero_label, cls.PALETTE
    return ds


def _written(tmp_path, dataset, pred):
    _write_formatted(pred, {'ori_filename': 'a.jpg'}, 0, dataset, {'imgfile_prefix': str(tmp_path)})
    return np.array(Image.open(tmp_path / 'a.png'))


def test_formats(tmp_path):
    pred = np.array([[0, 1], [2, 18]])
    city = _written(tmp_path, _bare(CityscapesDataset, False), pred)
    assert city.tolist() == [[7, 8], [11, 33]]
    assert np.array_equal(_written(tmp_path, _bare(DarkZurichDataset, False), pred), city)  # a subclass: label IDs
    pred = np.array([[0, 1], [5, 6]])
    assert _written(tmp_path, _bare(LoveDADataset, True), pred).tolist() == [[0, 1], [5, 6]]  # no +1
    assert _written(tmp_path, _bare(ADE20KDataset, True), pred).tolist() == [[1, 2], [6, 7]]  # 0.24.1's +1
