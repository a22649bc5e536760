"""Retinal-vessel benchmarks of mmseg 0.24.1: DRIVE, STARE, CHASE_DB1, HRF.

Layout (made by ``tools/convert_datasets/{drive,stare,chase_db1,hrf}.py``): ``images/{training,validation}/<n>.png``
and ``annotations/{training,validation}/<n><suffix>`` with 0 = background, 1 = vessel (no zero reduction).
"""
from mmseg.registry import DATASETS
from . import class_names as cn
from .custom import CustomDataset


class _VesselDataset(CustomDataset):
    CLASSES = cn.VESSEL_CLASSES
    PALETTE = cn.VESSEL_PALETTE
    SEG_MAP_SUFFIX = '.png'

    def __init__(self, **kwargs):
        kwargs.setdefault('img_suffix', '.png')
        kwargs.setdefault('seg_map_suffix', self.SEG_MAP_SUFFIX)
        kwargs.setdefault('reduce_zero_label', False)
        super().__init__(**kwargs)


@DATASETS.register_module()
class DRIVEDataset(_VesselDataset):
    """DRIVE: ``21.png`` ↔ ``21_manual1.png`` (first observer)."""
    SEG_MAP_SUFFIX = '_manual1.png'


@DATASETS.register_module()
class STAREDataset(_VesselDataset):
    """STARE: ``im0001.png`` ↔ ``im0001.ah.png`` (observer A. Hoover)."""
    SEG_MAP_SUFFIX = '.ah.png'


@DATASETS.register_module()
class ChaseDB1Dataset(_VesselDataset):
    """CHASE_DB1: ``Image_01L.png`` ↔ ``Image_01L_1stHO.png`` (first human observer)."""
    SEG_MAP_SUFFIX = '_1stHO.png'


@DATASETS.register_module()
class HRFDataset(_VesselDataset):
    """HRF: ``01_h.png`` ↔ ``01_h.png`` in the annotation folder."""
    SEG_MAP_SUFFIX = '.png'
