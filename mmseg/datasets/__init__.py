"""Datasets, transforms and data loading (design.md "Data")."""
from . import pipelines  # noqa: F401  (registers the transforms)
from .builder import build_dataloader, build_dataset, collate, worker_init_fn
from .custom import CustomDataset
from .dataset_wrappers import ConcatDataset, RepeatDataset
from .demo import DemoDataset, generate_demo_dataset
from .standard import (ADE20KDataset, CityscapesDataset, COCOStuffDataset, iSAIDDataset, PascalContextDataset,
                       PascalContextDataset59, PascalVOCDataset)

__all__ = [
    'build_dataloader', 'build_dataset', 'collate', 'worker_init_fn', 'CustomDataset', 'ConcatDataset',
    'RepeatDataset', 'DemoDataset', 'generate_demo_dataset', 'ADE20KDataset', 'CityscapesDataset',
    'COCOStuffDataset', 'iSAIDDataset', 'PascalContextDataset', 'PascalContextDataset59', 'PascalVOCDataset'
]
