"""SegNeXt toolbox: an MMSegmentation-shaped package on pure PyTorch."""
from .version import __version__

__all__ = ['__version__']
