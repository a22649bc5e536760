"""A short description of the software environment for the log."""
import platform
import sys

import torch

from ..version import __version__


def collect_env() -> str:
    """Python, PyTorch, CUDA/cuDNN, GPU name, intra-op threads and mmseg version, one per line."""
    lines = [f'sys.platform: {sys.platform}', f'Python: {platform.python_version()}',
             f'PyTorch: {torch.__version__}', f'CUDA available: {torch.cuda.is_available()}',
             f'torch threads: {torch.get_num_threads()}', f'mmseg: {__version__}']
    if torch.cuda.is_available():
        lines += [f'CUDA: {torch.version.cuda}', f'cuDNN: {torch.backends.cudnn.version()}',
                  f'GPU 0: {torch.cuda.get_device_name(0)}']
    return '\n'.join(lines)
