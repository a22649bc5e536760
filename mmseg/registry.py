"""The package registries. Backbones, heads, losses and segmentors share ``MODELS``."""
from .utils.registry import Registry

MODELS = Registry('model')
BACKBONES = HEADS = LOSSES = SEGMENTORS = MODELS
DATASETS = Registry('dataset')
TRANSFORMS = PIPELINES = Registry('transform')
HOOKS = Registry('hook')
