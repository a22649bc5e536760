from .conv_module import ConvModule
from .layers import DropPath, build_norm_layer, resize

__all__ = ['ConvModule', 'DropPath', 'build_norm_layer', 'resize']
