"""Hooks that make faults happen at a chosen iteration inside a real training process (``custom_imports``)."""
import os
import time

from mmseg.engine import HookBase
from mmseg.registry import HOOKS


@HOOKS.register_module()
class PauseAt(HookBase):
    """At iteration ``at`` (completed count, in ``stage``): write ``marker`` (``{rank}`` in it becomes the rank; the
    file holds the PID), then wait up to ``seconds`` — until a stop signal arrives when ``until_signal``, else the
    whole time (a second signal interrupts the sleep). A marker already on disk (a restarted run) skips the pause."""

    def __init__(self, at: int, marker: str, seconds: float = 60., stage: str = 'after_step',
                 until_signal: bool = True) -> None:
        self.at, self.marker, self.seconds, self.stage, self.until_signal = at, marker, seconds, stage, until_signal

    def _maybe_pause(self, stage: str) -> None:
        if stage != self.stage or self.trainer.iter != self.at:
            return
        marker = self.marker.replace('{rank}', str(self.trainer.rank))
        if os.path.exists(marker):
            return
        with open(marker + '.tmp', 'w') as f:
            f.write(str(os.getpid()))
        os.replace(marker + '.tmp', marker)
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not (self.until_signal and self.trainer.stop_requested is not None):
            time.sleep(0.05)

    def before_step(self) -> None:
        self._maybe_pause('before_step')

    def after_step(self) -> None:
        self._maybe_pause('after_step')


@HOOKS.register_module()
class FillDiskAt(HookBase):
    """At iteration ``at``: fill the work dir's file system, leaving ``leave_bytes`` free (a real full disk)."""

    def __init__(self, at: int, leave_bytes: int) -> None:
        self.at, self.leave_bytes = at, leave_bytes

    def after_step(self) -> None:
        if self.trainer.iter != self.at:
            return
        path = os.path.join(self.trainer.work_dir, 'filler.bin')
        with open(path, 'wb', buffering=0) as f:  # unbuffered: closing must not flush a leftover into a full disk
            try:
                while True:
                    f.write(b'\0' * 65536)
            except OSError:
                pass
        size = os.path.getsize(path)
        os.truncate(path, max(size - self.leave_bytes, 0))


@HOOKS.register_module()
class SlowEvaluation(HookBase):
    """Makes every evaluation long: it writes ``marker`` (the PID; ``{rank}`` becomes the rank), then sleeps
    ``seconds`` before evaluating; with ``per_batch``, each evaluation batch instead takes up to ``seconds``
    (ending early once this rank has a stop request), so a stop can only be seen between batches."""

    def __init__(self, marker: str, seconds: float = 120., per_batch: bool = False) -> None:
        self.marker, self.seconds, self.per_batch = marker, seconds, per_batch

    def before_train(self) -> None:
        from mmseg.engine import EvalHook
        for hook in self.trainer.hooks:
            if isinstance(hook, EvalHook):
                hook.evaluate = self._slow(hook.evaluate)

    def _mark(self) -> None:
        with open(self.marker.replace('{rank}', str(self.trainer.rank)), 'w') as f:
            f.write(str(os.getpid()))

    def _slow(self, evaluate):
        def slow(model):
            self._mark()
            if not self.per_batch:
                time.sleep(self.seconds)
                return evaluate(model)
            forward = model.forward

            def slow_forward(*args, **kwargs):
                deadline = time.monotonic() + self.seconds
                while time.monotonic() < deadline and self.trainer.stop_requested is None:
                    time.sleep(0.05)
                return forward(*args, **kwargs)
            model.forward = slow_forward
            try:
                return evaluate(model)
            finally:
                del model.forward  # the instance attribute: the class's forward again
        return slow
