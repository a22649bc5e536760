"""Data transforms; each is registered in ``mmseg.registry.TRANSFORMS`` and maps ``results -> results``."""
from .compose import Compose
from .formatting import Collect, DefaultFormatBundle, ImageToTensor, to_tensor
from .loading import LoadAnnotations, LoadImageFromFile
from .test_time_aug import MultiScaleFlipAug
from .transforms import (Normalize, Pad, PhotoMetricDistortion, RandomCrop, RandomFlip, Resize, ResizeToMultiple,
                         imflip, impad, imresize, rescale_size)

__all__ = [
    'Compose', 'Collect', 'DefaultFormatBundle', 'ImageToTensor', 'to_tensor', 'LoadAnnotations',
    'LoadImageFromFile', 'MultiScaleFlipAug', 'Normalize', 'Pad', 'PhotoMetricDistortion', 'RandomCrop',
    'RandomFlip', 'Resize', 'ResizeToMultiple', 'imflip', 'impad', 'imresize', 'rescale_size'
]
