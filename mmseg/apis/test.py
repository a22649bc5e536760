"""The dataloader inference loops live in :mod:`mmseg.core.evaluation.loop`; re-exported here for MMSeg users."""
from ..core.evaluation.loop import multi_gpu_test, single_gpu_test, trainid_to_labelid

__all__ = ['multi_gpu_test', 'single_gpu_test', 'trainid_to_labelid']
