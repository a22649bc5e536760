from .backbones import MSCAN, MSCAN_VARIANTS, MSCANClassifier
from .builder import build_backbone, build_head, build_loss, build_neck, build_segmentor
from .checkpoint import (CheckpointError, convert_checkpoint, detect_layout, load_checkpoint, read_checkpoint,
                         to_mmseg_layout, to_our_layout, unwrap_state_dict)
from .decode_heads import NMF2D, BaseDecodeHead, LightHamHead
from .losses import CrossEntropyLoss, DiceLoss, FocalLoss, LovaszLoss, accuracy
from .segmentors import EncoderDecoder

__all__ = [
    'MSCAN', 'MSCAN_VARIANTS', 'MSCANClassifier', 'build_backbone', 'build_head', 'build_loss', 'build_neck',
    'build_segmentor',
    'CheckpointError', 'convert_checkpoint', 'detect_layout', 'load_checkpoint', 'read_checkpoint',
    'to_mmseg_layout', 'to_our_layout', 'unwrap_state_dict', 'NMF2D', 'BaseDecodeHead', 'LightHamHead',
    'CrossEntropyLoss', 'DiceLoss', 'FocalLoss', 'LovaszLoss', 'accuracy', 'EncoderDecoder',
]
