"""Data transforms; each is registered in ``mmseg.registry.TRANSFORMS`` and maps ``results -> results``."""
from .compose import Compose
from .formatting import Collect, DefaultFormatBundle, ImageToTensor, to_tensor
from .intensity import CLAHE, AdjustGamma, Rerange, RGB2Gray
from .loading import LoadAnnotations, LoadImageFromFile
from .spatial import RandomCutOut, RandomMosaic, RandomRotate, SegRescale, imrotate
from .test_time_aug import MultiScaleFlipAug
from .transforms import (Normalize, Pad, PhotoMetricDistortion, RandomCrop, RandomFlip, Resize, ResizeToMultiple,
                         imflip, impad, imresize, rescale_size)

__all__ = [
    'Compose', 'Collect', 'DefaultFormatBundle', 'ImageToTensor', 'to_tensor', 'LoadAnnotations',
    'LoadImageFromFile', 'MultiScaleFlipAug', 'Normalize', 'Pad', 'PhotoMetricDistortion', 'RandomCrop',
    'RandomFlip', 'Resize', 'ResizeToMultiple', 'imflip', 'impad', 'imresize', 'rescale_size', 'CLAHE', 'AdjustGamma',
    'Rerange', 'RGB2Gray', 'RandomCutOut', 'RandomMosaic', 'RandomRotate', 'SegRescale', 'imrotate'
]
