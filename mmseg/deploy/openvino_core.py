"""One OpenVINO ``Core`` per process, and a guard for the thread's signal stack around code that makes its own.

Why: OpenVINO's CPU plugin (seen in 2026.4.1) gives every plugin instance — one per ``openvino.Core`` that compiles
for 'CPU' — a signal stack (``sigaltstack``) of its own, installed on the thread that creates it. When the plugin is
destroyed it unmaps that memory, and it puts the previous stack back only if it is destroyed on the same thread and
after every plugin made later. A ``Core`` freed by a garbage collection on another thread, or two freed in the order
they were made, leave a thread's signal stack pointing at unmapped (or reused) memory. The next signal with a
Python handler on that thread (Python installs its handlers with SA_ONSTACK: SIGCHLD from a DataLoader's workers,
SIGINT, SIGTERM) then kills the process with SIGSEGV (si_code SI_KERNEL) and no traceback, at any later time. This
is the crash behind the flaky pytest-xdist workers of issue 19 (core dump: the main thread in a DataLoader's poll).

- :func:`shared_core`: our runtimes compile with one ``Core`` that lives until the interpreter exits, so no plugin
  of ours is destroyed while other code runs.
- :func:`keep_signal_stack`: NNCF makes (and drops) a ``Core`` per statistics pass; around such calls the thread's
  signal stack is put back as it was, so the stacks of plugins freed later are not installed anywhere.
"""
import contextlib
import ctypes
import gc
import sys
import threading

_core = None
_core_lock = threading.Lock()


def shared_core():
    """The process's ``openvino.Core``, made on first use and never destroyed before exit."""
    global _core
    with _core_lock:
        if _core is None:
            import openvino as ov
            _core = ov.Core()
        return _core


class _StackT(ctypes.Structure):  # Linux stack_t (x86_64, aarch64)
    _fields_ = [('ss_sp', ctypes.c_void_p), ('ss_flags', ctypes.c_int), ('ss_size', ctypes.c_size_t)]


def _current_stack():
    """(libc, this thread's stack_t), or None where it cannot be read (not Linux)."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    cur = _StackT()
    return (libc, cur) if libc.sigaltstack(None, ctypes.byref(cur)) == 0 else None


def signal_stack():
    """This thread's signal stack as ``(address, size, flags)``, or None where it cannot be read (not Linux)."""
    read = _current_stack()
    return None if read is None else (read[1].ss_sp or 0, read[1].ss_size, read[1].ss_flags)


@contextlib.contextmanager
def keep_signal_stack():
    """Run the block, collect the garbage it left, and put this thread's signal stack back as it was before."""
    read = _current_stack()
    try:
        yield
    finally:
        if read is not None:
            libc, before = read
            gc.collect()  # the plugins the block dropped are destroyed now, on this thread, not on another later
            if signal_stack() != (before.ss_sp or 0, before.ss_size, before.ss_flags):
                before.ss_flags &= ~1  # SS_ONSTACK is a state, not a request
                if libc.sigaltstack(ctypes.byref(before), None) != 0:
                    raise OSError(ctypes.get_errno(), 'could not restore the signal stack (sigaltstack)')
