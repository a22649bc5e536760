"""File writing that never leaves a torn file behind."""
import errno
import os
import shutil
import tempfile
from typing import Any

import torch


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (disk full, no permission, ...); the file it would replace is intact."""

    def __str__(self) -> str:  # OSError would format (errno, strerror); show the message as given
        return str(self.args[0])


def _reason(exc: BaseException, folder: str) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return 'no space left on device'
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.strerror or str(exc)
    try:  # torch reports a full disk as "unexpected pos ..." / "PytorchStreamWriter failed writing file ..."
        if shutil.disk_usage(folder).free < 1 << 20:
            return f'no space left on device ({type(exc).__name__}: {exc})'
    except OSError:
        pass
    return f'{type(exc).__name__}: {exc}'


def atomic_torch_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then ``os.replace``: a crash keeps the old file.

    Failures raise :class:`CheckpointSaveError` naming ``path`` and the reason; the temp file is removed (a
    process killed mid-save leaves a ``.tmp_*`` file that the trainer removes on its next start).
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.pth', dir=folder)
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except Exception as e:
        kept = f'; the existing {os.path.basename(path)} is unchanged' if os.path.exists(path) else ''
        raise CheckpointSaveError(f'cannot write {path}: {_reason(e, folder)}{kept}') from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
