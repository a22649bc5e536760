"""Progress for everything a person waits on: a tqdm bar on a terminal, a log line with ETA otherwise.

On a terminal, log records of the ``mmseg`` logger are written above the bar (``tqdm.write``) instead of through
it while the bar is open. Without one (a cluster job's log, a pipe), a line ``desc: n/total (p%), elapsed, ETA`` is
logged at least every ``interval`` seconds and once at the end, so the log never goes quiet for long.

    with ProgressLine(len(loader), 'test') as progress:
        for batch in loader:
            ...
            progress.update()

``progress_map(fn, items, nproc, desc)`` is ``[fn(x) for x in items]`` over a process pool with such progress.
"""
import contextlib
import logging
import sys
import time
from multiprocessing import Pool
from typing import Callable, Iterable, List, Optional, Sequence, TextIO

LOGGER_NAME = 'mmseg'


def format_seconds(seconds: float) -> str:
    seconds = int(max(0, round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f'{h}:{m:02d}:{s:02d}' if h else f'{m:02d}:{s:02d}'


class ProgressLine:
    """Counts work done out of ``total`` (None: unknown) and shows it (module docstring).

    Args:
        total: number of steps, or None.
        desc: what is counted, at the start of each line.
        interval: the longest gap between two log lines without a terminal, in seconds.
        enabled: False shows nothing (other ranks of a distributed job).
        stream: the terminal check looks at this stream (default ``sys.stdout``); ``tty`` overrides the check.
        unit: printed after the counts; ``'B'`` counts bytes (shown in MiB, scaled units on the bar).
    """

    def __init__(self, total: Optional[int], desc: str, interval: float = 30.0, enabled: bool = True,
                 stream: Optional[TextIO] = None, tty: Optional[bool] = None, unit: str = 'it',
                 logger: Optional[logging.Logger] = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.interval, self.enabled, self.unit = total, desc, interval, enabled, unit
        self.n = 0
        self._clock = clock
        self._start = self._last = clock()
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        stream = stream if stream is not None else sys.stdout
        self.tty = bool(tty if tty is not None else getattr(stream, 'isatty', lambda: False)())
        self._bar = None
        self._redirect = contextlib.ExitStack()
        if enabled and self.tty:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm
            scaled = dict(unit_scale=True, unit_divisor=1024) if unit == 'B' else {}
            self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=stream, **scaled)
            # log records go above the bar, not through it
            self._redirect.enter_context(logging_redirect_tqdm(loggers=[self._logger]))

    def _count(self, n: float) -> str:
        return f'{n / 2 ** 20:.1f}' if self.unit == 'B' else str(n)

    def line(self) -> str:
        """``desc: n/total (p%), elapsed mm:ss, ETA mm:ss`` (rate-based ETA; unknown before the first step)."""
        elapsed = self._clock() - self._start
        unit = 'MiB' if self.unit == 'B' else self.unit
        if self.total:
            eta = elapsed / self.n * (self.total - self.n) if self.n else None
            return (f'{self.desc}: {self._count(self.n)}/{self._count(self.total)} {unit} '
                    f'({100.0 * self.n / self.total:.0f}%), elapsed {format_seconds(elapsed)}, '
                    f'ETA {format_seconds(eta) if eta is not None else "?"}')
        return f'{self.desc}: {self._count(self.n)} {unit}, elapsed {format_seconds(elapsed)}'

    def update(self, n: int = 1) -> None:
        self.n += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._logger.info(self.line())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._redirect.close()
        elif self.enabled and self.n and self._clock() - self._start >= self.interval:
            self._logger.info(self.line())  # the end of a run long enough to have been reported on

    def __enter__(self) -> 'ProgressLine':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_map(fn: Callable, items: Sequence, nproc: int = 1, desc: str = 'convert', unit: str = 'file',
                 interval: float = 30.0) -> List:
    """``[fn(x) for x in items]`` in order, in ``nproc`` worker processes when that helps (``fn`` picklable),
    with a :class:`ProgressLine` over the finished items."""
    items = list(items)
    results: List = []
    with ProgressLine(len(items), desc, interval=interval, unit=unit) as progress:
        if nproc > 1 and len(items) > 1:
            with Pool(min(nproc, len(items))) as pool:
                # imap keeps the order; small chunks keep the bar moving
                chunk = max(1, len(items) // (nproc * 16))
                for result in pool.imap(fn, items, chunksize=chunk):
                    results.append(result)
                    progress.update()
        else:
            for item in items:
                results.append(fn(item))
                progress.update()
    return results


def progress_iter(items: Iterable, desc: str, total: Optional[int] = None, unit: str = 'file',
                  interval: float = 30.0, enabled: bool = True) -> Iterable:
    """Yield ``items`` while showing progress (for loops that cannot use :func:`progress_map`). The bar closes
    when the loop ends, also by an exception (the generator is closed as the loop's frame lets go of it)."""
    if total is None and hasattr(items, '__len__'):
        total = len(items)  # type: ignore[arg-type]
    with ProgressLine(total, desc, interval=interval, unit=unit, enabled=enabled) as progress:
        for item in items:
            yield item
            progress.update()
