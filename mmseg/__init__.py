"""SegNeXt toolbox: an MMSegmentation-shaped package on pure PyTorch."""
import os as _os
import sys as _sys

from ._clash import check_no_clash as _check_no_clash

# MMSegmentation installs a package of the same name: fail here, clearly, rather than later on a missing mmcv.
_check_no_clash(_os.path.dirname(_os.path.abspath(__file__)), list(_sys.path))

from .version import __version__  # noqa: E402

__all__ = ['__version__']
