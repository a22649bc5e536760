"""Process-group setup for ``torchrun`` and SLURM, plus small collective helpers that no-op on one process."""
import contextlib
import os
import subprocess
from typing import Any, Callable, List

import torch
import torch.distributed as dist



def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_dist(launcher: str, backend: str = 'nccl', port: int = None) -> None:
    """Initialise the default process group for ``launcher`` ``'pytorch'`` (torchrun env vars) or ``'slurm'``.

    NCCL needs CUDA; on a CPU-only machine the backend falls back to gloo.
    """
    if not torch.cuda.is_available() and backend == 'nccl':
        backend = 'gloo'
    if launcher == 'slurm':
        proc_id = int(os.environ['SLURM_PROCID'])
        ntasks = int(os.environ['SLURM_NTASKS'])
        node_list = os.environ['SLURM_NODELIST']
        addr = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
        os.environ.setdefault('MASTER_PORT', str(port or 29500))
        os.environ.setdefault('MASTER_ADDR', addr)
        os.environ['WORLD_SIZE'] = str(ntasks)
        os.environ['RANK'] = str(proc_id)
        num_gpus = max(torch.cuda.device_count(), 1)
        os.environ['LOCAL_RANK'] = str(proc_id % num_gpus)
    elif launcher != 'pytorch':
        raise ValueError(f"launcher must be 'none', 'pytorch' or 'slurm', got '{launcher}'")
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise RuntimeError(f"--launcher {launcher} needs RANK/WORLD_SIZE in the environment: "
                           'start with torchrun (tools/dist_train.sh) or srun (tools/slurm_train.sh)')
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count())
    attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT')
    if attempt is None:
        dist.init_process_group(backend=backend)
        return
    # torchrun --max-restarts: the static rendezvous keeps one store for every attempt, so a restarted rank reads
    # the previous attempt's keys (gloo connects to a dead peer's address, or waits on a count already reached).
    # Each attempt gets keys of its own.
    store, rank, world = next(dist.rendezvous('env://'))
    dist.init_process_group(backend=backend, store=dist.PrefixStore(f'attempt_{attempt}/', store), rank=rank,
                            world_size=world)


def close_dist() -> None:
    """Wait for every rank, then tear the process group down; without this a rank that exits first can make
    another rank's gloo threads abort the process at interpreter exit."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def get_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: Any) -> list:
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over ranks in place (no-op on one process); returns ``t``."""
    if is_distributed():
        dist.all_reduce(t)
    return t


def all_reduce_max(t: torch.Tensor) -> torch.Tensor:
    """Element-wise max of ``t`` over ranks in place (no-op on one process); returns ``t``."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def barrier() -> None:
    if is_distributed():
        dist.barrier()


_BETWEEN_BATCHES: List[Callable[[], None]] = []  # called after every batch (see between_batches)


@contextlib.contextmanager
def between_batches(check: Callable[[], None]):
    """Call ``check()`` after every batch of the test loops (``mmseg.core.evaluation.loop``) inside the block.
    The trainer uses it in distributed evaluations to agree, in one small collective per batch, on a stop that any
    rank received: every rank runs the same number of batches (the sampler pads the shards), so all of them leave
    after the same batch."""
    _BETWEEN_BATCHES.append(check)
    try:
        yield
    finally:
        _BETWEEN_BATCHES.remove(check)


def after_batch() -> None:
    """What the test loops call after each batch: every registered :func:`between_batches` check."""
    for check in list(_BETWEEN_BATCHES):
        check()
