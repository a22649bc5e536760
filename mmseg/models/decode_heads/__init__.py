from .decode_head import BaseDecodeHead
from .ham_head import LightHamHead
from .nmf import NMF2D

__all__ = ['BaseDecodeHead', 'LightHamHead', 'NMF2D']
