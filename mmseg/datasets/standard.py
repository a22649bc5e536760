"""The benchmark datasets of spec §8: fixed classes, palettes, suffixes and zero-label handling."""
from typing import List, Optional

import numpy as np
from PIL import Image

from mmseg.registry import DATASETS
from . import class_names as cn
from .custom import CustomDataset


@DATASETS.register_module()
class ADE20KDataset(CustomDataset):
    """ADE20K (ADEChallengeData2016): 150 classes; label 0 ("other") is ignored via reduce_zero_label."""
    CLASSES = cn.ADE20K_CLASSES
    PALETTE = cn.ADE20K_PALETTE

    def __init__(self, **kwargs):
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        kwargs.setdefault('reduce_zero_label', True)
        super().__init__(**kwargs)


# Cityscapes trainId 0..18 → labelId (evaluation server format); 255 → 0 ("unlabeled")
CITYSCAPES_TRAINID_TO_LABELID = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)


def trainid_to_labelid(seg: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    lut[:len(CITYSCAPES_TRAINID_TO_LABELID)] = CITYSCAPES_TRAINID_TO_LABELID
    return lut[np.asarray(seg, dtype=np.int64).clip(0, 255)]


@DATASETS.register_module()
class CityscapesDataset(CustomDataset):
    """Cityscapes: 19 train ids, ``<city>/<name>_leftImg8bit.png`` ↔ ``<name>_gtFine_labelTrainIds.png``."""
    CLASSES = cn.CITYSCAPES_CLASSES
    PALETTE = cn.CITYSCAPES_PALETTE

    def __init__(self, img_suffix: str = '_leftImg8bit.png', seg_map_suffix: str = '_gtFine_labelTrainIds.png',
                 **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def format_prediction(self, pred: np.ndarray, index: Optional[int] = None, to_label_id: bool = True):
        """The evaluation server's format: label IDs (``to_label_id``, else train IDs) in a palette PNG whose
        colours are the classes' (as 0.24.1's ``results2img``)."""
        out = trainid_to_labelid(pred) if to_label_id else np.asarray(pred).astype(np.uint8)
        img = Image.fromarray(out).convert('P')
        palette = np.zeros((256, 3), dtype=np.uint8)
        for train_id, label_id in enumerate(CITYSCAPES_TRAINID_TO_LABELID):
            if train_id < len(self.PALETTE or []):
                palette[label_id if to_label_id else train_id] = self.PALETTE[train_id]
        img.putpalette(palette.flatten().tolist())
        return img


@DATASETS.register_module()
class PascalVOCDataset(CustomDataset):
    """Pascal VOC 2012: 21 classes (0 = background), object boundaries 255; ``split`` is required."""
    CLASSES = cn.VOC_CLASSES
    PALETTE = cn.VOC_PALETTE

    def __init__(self, split: str, **kwargs):
        if split is None:
            raise ValueError('PascalVOCDataset needs a split file (ImageSets/Segmentation/<set>.txt)')
        super().__init__(img_suffix='.jpg', seg_map_suffix='.png', split=split, **kwargs)


@DATASETS.register_module()
class PascalContextDataset(CustomDataset):
    """Pascal Context: 60 classes including background 0; ``split`` is required."""
    CLASSES = cn.PASCAL_CONTEXT_CLASSES
    PALETTE = cn.PASCAL_CONTEXT_PALETTE

    def __init__(self, split: str, **kwargs):
        if split is None:
            raise ValueError(f'{type(self).__name__} needs a split file (ImageSets/SegmentationContext/<set>.txt)')
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(img_suffix='.jpg', seg_map_suffix='.png', split=split, **kwargs)


@DATASETS.register_module()
class PascalContextDataset59(PascalContextDataset):
    """Pascal Context 59: background 0 is ignored via reduce_zero_label."""
    CLASSES = cn.PASCAL_CONTEXT59_CLASSES
    PALETTE = cn.PASCAL_CONTEXT59_PALETTE

    def __init__(self, split: str, **kwargs):
        kwargs.setdefault('reduce_zero_label', True)
        super().__init__(split=split, **kwargs)


@DATASETS.register_module()
class COCOStuffDataset(CustomDataset):
    """COCO-Stuff 164k: 171 train ids, ``<name>.jpg`` ↔ ``<name>_labelTrainIds.png``."""
    CLASSES = cn.COCO_STUFF_CLASSES
    PALETTE = cn.COCO_STUFF_PALETTE

    def __init__(self, **kwargs):
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '_labelTrainIds.png')
        super().__init__(**kwargs)


@DATASETS.register_module()
class iSAIDDataset(CustomDataset):  # noqa: N801 (the benchmark's own spelling)
    """iSAID patches: 16 classes (0 = background); label name = image name with its suffix replaced by
    ``_instance_color_RGB.png`` (``seg_map_suffix`` is the part after ``_instance_color_RGB``)."""
    CLASSES = cn.ISAID_CLASSES
    PALETTE = cn.ISAID_PALETTE
    ANN_TAG = '_instance_color_RGB'

    def __init__(self, **kwargs):
        kwargs.setdefault('img_suffix', '.png')
        kwargs.setdefault('seg_map_suffix', '.png')
        super().__init__(**kwargs)

    def seg_map_name(self, img_name: str) -> str:
        return img_name[:-len(self.img_suffix)] + self.ANN_TAG + self.seg_map_suffix

    def load_annotations(self, img_dir, img_suffix, ann_dir, seg_map_suffix, split) -> List[dict]:
        # iSAID image and label share the '.png' suffix: skip label files when both live in one folder.
        infos = super().load_annotations(img_dir, img_suffix, ann_dir, seg_map_suffix, split)
        if split is None:
            infos = [i for i in infos if not i['filename'].endswith(self.ANN_TAG + seg_map_suffix)]
        return infos
