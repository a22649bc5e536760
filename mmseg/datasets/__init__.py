"""Datasets, transforms and data loading (design.md "Data")."""
from . import pipelines  # noqa: F401  (registers the transforms)
from .builder import build_dataset, collate, leaf_dataset_cfg, worker_init_fn
from .custom import CustomDataset
from .dataset_wrappers import ConcatDataset, MultiImageMixDataset, RepeatDataset
from .demo import DemoDataset, generate_demo_dataset
from .night import DarkZurichDataset, NightDrivingDataset
from .remote_sensing import ISPRSDataset, LoveDADataset, PotsdamDataset
from .retinal import ChaseDB1Dataset, DRIVEDataset, HRFDataset, STAREDataset
from .standard import (ADE20KDataset, CityscapesDataset, COCOStuffDataset, iSAIDDataset, PascalContextDataset,
                       PascalContextDataset59, PascalVOCDataset)

__all__ = [
    'build_dataset', 'collate', 'leaf_dataset_cfg', 'worker_init_fn', 'CustomDataset', 'ConcatDataset',
    'RepeatDataset', 'DemoDataset', 'generate_demo_dataset', 'ADE20KDataset', 'CityscapesDataset',
    'COCOStuffDataset', 'iSAIDDataset', 'PascalContextDataset', 'PascalContextDataset59', 'PascalVOCDataset',
    'MultiImageMixDataset', 'DarkZurichDataset', 'NightDrivingDataset', 'ISPRSDataset', 'LoveDADataset',
    'PotsdamDataset', 'ChaseDB1Dataset', 'DRIVEDataset', 'HRFDataset', 'STAREDataset'
]
