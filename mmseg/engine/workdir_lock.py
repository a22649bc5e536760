"""One training process per work dir: ``<work_dir>/.train.lock`` names its owner (host, PID, start time).

A second run on the same folder (a requeued job starting while the old one still exits, a run started twice)
would interleave its checkpoints and ``latest.pth`` with the first one's. The lock is created atomically
(``O_EXCL``); a lock whose process is gone (same host: the PID is not alive, or now belongs to a process started
later), or another host's lock older than ``stale_after_s``, is taken over with a log line. Only rank 0 holds it;
the other ranks share it (``tools/train.py`` broadcasts rank 0's result).
"""
import json
import os
import socket
import time
from typing import Any, Dict, Optional

from ..utils import get_root_logger

LOCK_NAME = '.train.lock'


class WorkDirLockedError(RuntimeError):
    """Another training process holds the work dir."""


def _process_start(pid: int) -> Optional[str]:
    """The kernel's start time of ``pid`` (clock ticks since boot), to tell a reused PID from the owner."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def describe(owner: Dict[str, Any]) -> str:
    started = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(owner.get('time', 0)))
    return f"host {owner.get('host')}, PID {owner.get('pid')}, started {started}"


def _stale_reason(owner: Optional[Dict[str, Any]], path: str, stale_after_s: float) -> Optional[str]:
    if owner is None:
        age = time.time() - os.path.getmtime(path)
        return f'it is unreadable and {age:.0f} s old' if age > 60 else None
    if owner.get('host') == socket.gethostname():
        pid = int(owner.get('pid', -1))
        if not _alive(pid):
            return 'its process is gone'
        if owner.get('pid_start') and _process_start(pid) not in (None, owner['pid_start']):
            return 'its PID now belongs to another process'
        return None
    age = time.time() - float(owner.get('time', 0))
    if age > stale_after_s:
        return f'it is another host\'s lock, {age / 3600:.1f} h old (more than {stale_after_s / 3600:g} h)'
    return None


def _read(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) else None
    except (OSError, ValueError):
        return None


class WorkDirLock:
    """``acquire()`` or raise :class:`WorkDirLockedError` naming the owner; ``release()`` removes the lock only
    while it is still ours."""

    def __init__(self, work_dir: str, stale_after_s: float = 24 * 3600.) -> None:
        self.path = os.path.join(work_dir, LOCK_NAME)
        self.stale_after_s = stale_after_s
        self.owner = {'host': socket.gethostname(), 'pid': os.getpid(), 'pid_start': _process_start(os.getpid()),
                      'time': time.time()}
        self.held = False

    def acquire(self) -> 'WorkDirLock':
        os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                other = _read(self.path)
                reason = _stale_reason(other, self.path, self.stale_after_s)
                if reason is None:
                    raise WorkDirLockedError(
                        f'the work dir {os.path.dirname(self.path)} is in use by another training process '
                        f'({describe(other) if other else "owner being written"}; lock file {self.path}): wait '
                        'for it to end or stop it, or train in another --work-dir') from None
                get_root_logger().warning(f'taking over the stale work-dir lock {self.path} '
                                          f'({describe(other) if other else "unreadable"}): {reason}')
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, 'w') as f:
                json.dump(self.owner, f)
            self.held = True
            return self
        raise WorkDirLockedError(f'could not take the work-dir lock {self.path}: other processes keep creating it')

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        current = _read(self.path)
        if current and current.get('pid') == self.owner['pid'] and current.get('host') == self.owner['host']:
            os.remove(self.path)
