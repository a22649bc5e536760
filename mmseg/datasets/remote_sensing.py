"""Remote-sensing benchmarks of mmseg 0.24.1: LoveDA, ISPRS Potsdam and ISPRS Vaihingen.

All three store 1-based label PNGs next to PNG images (``img_dir/<split>/x.png`` ↔ ``ann_dir/<split>/x.png``, made by
``tools/convert_datasets/{loveda,potsdam,vaihingen}.py``); label 0 (LoveDA: no data, ISPRS: boundary/unknown colour)
is ignored through ``reduce_zero_label=True``.
"""
import numpy as np
from PIL import Image

from mmseg.registry import DATASETS
from . import class_names as cn
from .custom import CustomDataset


class _ZeroReducedPNG(CustomDataset):
    def __init__(self, **kwargs):
        kwargs.setdefault('img_suffix', '.png')
        kwargs.setdefault('seg_map_suffix', '.png')
        kwargs.setdefault('reduce_zero_label', True)
        super().__init__(**kwargs)


@DATASETS.register_module()
class LoveDADataset(_ZeroReducedPNG):
    """LoveDA (Rural + Urban mixed): 7 classes; ``img_dir/{train,val,test}``, ``ann_dir/{train,val}``."""
    CLASSES = cn.LOVEDA_CLASSES
    PALETTE = cn.LOVEDA_PALETTE

    def format_prediction(self, pred: np.ndarray, index=None, to_label_id: bool = True) -> Image.Image:
        """Submission map: the benchmark server wants class indices 0..6 as they are (no +1, unlike most
        zero-reduced datasets)."""
        return Image.fromarray(np.asarray(pred).astype(np.uint8))


@DATASETS.register_module()
class PotsdamDataset(_ZeroReducedPNG):
    """ISPRS Potsdam patches: 6 classes (impervious surface ... clutter)."""
    CLASSES = cn.ISPRS_CLASSES
    PALETTE = cn.ISPRS_PALETTE


@DATASETS.register_module()
class ISPRSDataset(_ZeroReducedPNG):
    """ISPRS Vaihingen patches (0.24.1's name for the Vaihingen dataset): the same 6 classes as Potsdam."""
    CLASSES = cn.ISPRS_CLASSES
    PALETTE = cn.ISPRS_PALETTE
