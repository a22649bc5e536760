"""The package's one logger: every module logs through ``get_root_logger``."""
import logging
import sys
from typing import Optional

_LOGGER_NAME = 'mmseg'
_configured_files: set = set()


def get_root_logger(log_file: Optional[str] = None, log_level: Optional[int] = None) -> logging.Logger:
    """Return the ``mmseg`` logger; attach a stream handler once and a file handler per ``log_file``.

    The level is set only when ``log_level`` is given (INFO on first use); ranks other than 0 log errors only and
    never write the log file, so multi-process runs print and write one log.
    """
    from .dist import get_dist_info
    rank, _ = get_dist_info()
    logger = logging.getLogger(_LOGGER_NAME)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter('%(asctime)s - %(name)s - %(levelname)s - %(message)s'))
        logger.addHandler(handler)
        logger.propagate = False
        if log_level is None:
            logger.setLevel(logging.INFO)
    if log_level is not None:
        logger.setLevel(log_level)
    if rank != 0:
        logger.setLevel(logging.ERROR)
    if log_file is not None and log_file not in _configured_files:
        if rank == 0:
            fh = logging.FileHandler(log_file, mode='a')
            fh.setFormatter(logging.Formatter('%(asctime)s - %(name)s - %(levelname)s - %(message)s'))
            logger.addHandler(fh)
        _configured_files.add(log_file)
    return logger
