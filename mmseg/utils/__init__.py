from .config import Config, ConfigDict, ConfigError, DictAction
from .dist import get_dist_info, is_main_process
from .logger import get_root_logger
from .registry import ConfigKeyError, Registry

__all__ = ['Config', 'ConfigDict', 'ConfigError', 'DictAction', 'get_dist_info', 'is_main_process',
           'get_root_logger', 'ConfigKeyError', 'Registry']
