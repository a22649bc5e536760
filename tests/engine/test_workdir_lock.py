"""The work-dir lock: one owner named in the error, stale locks taken over with a log line."""
import json
import logging
import socket
import subprocess
import sys
import time

import pytest

from mmseg.engine.workdir_lock import LOCK_NAME, WorkDirLock, WorkDirLockedError


def _write(folder, **owner):
    (folder / LOCK_NAME).write_text(json.dumps(owner))


def test_held_lock_names_its_owner_and_is_released(tmp_path):
    lock = WorkDirLock(str(tmp_path)).acquire()
    with pytest.raises(WorkDirLockedError, match=f'host {socket.gethostname()}, PID {lock.owner["pid"]}, started'):
        WorkDirLock(str(tmp_path)).acquire()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    WorkDirLock(str(tmp_path)).acquire().release()


def test_stale_locks_are_taken_over_with_a_log_line(tmp_path, caplog):
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()  # a PID whose process has ended
    logger = logging.getLogger('mmseg')
    logger.addHandler(caplog.handler)
    try:
        _write(tmp_path, host=socket.gethostname(), pid=gone.pid, time=time.time())
        WorkDirLock(str(tmp_path)).acquire().release()
        assert 'taking over the stale work-dir lock' in caplog.text and 'its process is gone' in caplog.text
        _write(tmp_path, host='elsewhere', pid=1, time=time.time() - 3 * 3600)
        WorkDirLock(str(tmp_path), stale_after_s=2 * 3600).acquire().release()
        assert "another host's lock, 3.0 h old" in caplog.text
    finally:
        logger.removeHandler(caplog.handler)
    _write(tmp_path, host='elsewhere', pid=1, time=time.time() - 600)  # recent: that host may still train
    with pytest.raises(WorkDirLockedError, match='host elsewhere, PID 1'):
        WorkDirLock(str(tmp_path), stale_after_s=2 * 3600).acquire()
