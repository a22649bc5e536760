"""Process-pool map for the dataset converters."""
from multiprocessing import Pool
from typing import Callable, List, Sequence


def parallel_map(fn: Callable, items: Sequence, nproc: int) -> List:
    """``[fn(x) for x in items]``, in ``nproc`` worker processes when that helps (``fn`` must be picklable)."""
    if nproc > 1 and len(items) > 1:
        with Pool(min(nproc, len(items))) as pool:
            return pool.map(fn, items)
    return [fn(x) for x in items]
