"""Night-time driving test sets of mmseg 0.24.1 (Cityscapes classes, evaluated with Cityscapes-trained models)."""
from mmseg.registry import DATASETS
from .standard import CityscapesDataset


@DATASETS.register_module()
class DarkZurichDataset(CityscapesDataset):
    """Dark Zurich: ``rgb_anon/val/night/<seq>/<n>_rgb_anon.png`` ↔
    ``gt/val/night/<seq>/<n>_gt_labelTrainIds.png``."""

    def __init__(self, img_suffix: str = '_rgb_anon.png', seg_map_suffix: str = '_gt_labelTrainIds.png', **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)


@DATASETS.register_module()
class NightDrivingDataset(CityscapesDataset):
    """Nighttime Driving test: ``leftImg8bit/test/night/<n>_leftImg8bit.png`` ↔
    ``gtCoarse_daytime_trainvaltest/test/night/<n>_gtCoarse_labelTrainIds.png``."""

    def __init__(self, img_suffix: str = '_leftImg8bit.png', seg_map_suffix: str = '_gtCoarse_labelTrainIds.png',
                 **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
