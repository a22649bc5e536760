from .conv_module import ConvModule
from .layers import DropPath, build_norm_layer, is_channels_last, resize, revert_sync_batchnorm

__all__ = ['ConvModule', 'DropPath', 'build_norm_layer', 'is_channels_last', 'resize',
           'revert_sync_batchnorm']
