"""Our own training checkpoints: atomic save, ``weights_only``-loadable contents, exact resume.

Layout: ``{'meta': {iter, seed, config, mmseg_version, time, rng, sampler, ...}, 'state_dict': ...,
'optimizer': ..., 'scaler': ...}``. Every value is a tensor or a plain Python type so
``torch.load(path, weights_only=True)`` accepts it. Foreign (official/pretrained) weights are loaded by
``mmseg.models.load_checkpoint``, not here.
"""
import glob
import os
import random
import re
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..models.checkpoint import read_checkpoint
from ..utils import get_root_logger
from ..utils.io import CheckpointSaveError, atomic_torch_save
from ..version import __version__

LATEST = 'latest.pth'


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DDP (and our train-step wrapper) down to the segmentor."""
    while hasattr(model, 'module'):
        model = model.module
    return model


# ----------------------------------------------------------------------------------------------- RNG states
def get_rng_state() -> Dict[str, Any]:
    """torch/CUDA/numpy/python RNG states as tensors and plain types (``weights_only``-safe)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss = random.getstate()
    state = {
        'torch': torch.get_rng_state(),
        'numpy': {'name': name, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': int(pos),
                  'has_gauss': int(has_gauss), 'cached_gaussian': float(cached)},
        'python': {'version': version, 'state': list(py_state), 'gauss': gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state['torch'])
    npst = state['numpy']
    np.random.set_state((npst['name'], npst['keys'].numpy().astype(np.uint32), npst['pos'],
                         npst['has_gauss'], npst['cached_gaussian']))
    py = state['python']
    random.setstate((py['version'], tuple(py['state']), py['gauss']))
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:  # a different device count: restore the current device only
            torch.cuda.set_rng_state(cuda_states[0])


# ------------------------------------------------------------------------------------------------ save/load
def _link_latest(path: str) -> None:
    """``latest.pth`` next to ``path``: a hard link (no copy, no symlink), or a copy where links are not allowed."""
    folder = os.path.dirname(os.path.abspath(path))
    latest = os.path.join(folder, LATEST)
    if os.path.abspath(path) == latest:
        return
    tmp = os.path.join(folder, f'.tmp_latest_{os.getpid()}.pth')
    try:
        if os.path.exists(tmp):
            os.remove(tmp)
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, latest)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise CheckpointSaveError(f'wrote {path} but cannot update {latest}: {e.strerror or e}; resume from '
                                  f'{os.path.basename(path)}') from e


def save_checkpoint(path: str, model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                    meta: Optional[Dict[str, Any]] = None, scaler: Optional[Any] = None,
                    update_latest: bool = True) -> None:
    """Atomically save model (DDP unwrapped, on CPU), optimizer, AMP scaler and ``meta`` to ``path``."""
    meta = dict(meta or {})
    meta.setdefault('mmseg_version', __version__)
    meta.setdefault('time', time.asctime())
    state_dict = {k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()}
    ckpt: Dict[str, Any] = {'meta': meta, 'state_dict': state_dict}
    if optimizer is not None:
        ckpt['optimizer'] = optimizer.state_dict()
    if scaler is not None:
        ckpt['scaler'] = scaler.state_dict()
    atomic_torch_save(ckpt, path)
    if update_latest:
        _link_latest(path)


def resume_checkpoint(path: str, model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                      scaler: Optional[Any] = None, rank: int = 0, restore_rng: bool = True) -> Dict[str, Any]:
    """Restore model, optimizer, scaler and this rank's RNG states from ``path``; return its ``meta``.

    The iteration counter and sampler position are in ``meta`` (``iter``, ``sampler``) for the runner to use.
    """
    logger = get_root_logger()
    ckpt = read_checkpoint(path)
    if 'state_dict' not in ckpt:
        raise KeyError(f"checkpoint {path} has no 'state_dict': it is not a training checkpoint")
    unwrap_model(model).load_state_dict(ckpt['state_dict'], strict=True)
    if optimizer is not None and 'optimizer' in ckpt:
        optimizer.load_state_dict(ckpt['optimizer'])
    if scaler is not None and 'scaler' in ckpt:
        scaler.load_state_dict(ckpt['scaler'])
    meta = ckpt.get('meta', {})
    rngs: List[Dict[str, Any]] = meta.get('rng') or []
    if restore_rng and rngs:
        if rank < len(rngs):
            set_rng_state(rngs[rank])
        else:
            logger.warning(f'checkpoint {path} holds RNG states for {len(rngs)} ranks; rank {rank} keeps its own')
    logger.info(f'resumed from {path} at iteration {meta.get("iter", 0)}')
    return meta


def list_iter_checkpoints(work_dir: str) -> List[Tuple[int, str]]:
    """``(N, path)`` of every ``iter_N.pth`` in ``work_dir``, by increasing N."""
    found = []
    for p in glob.glob(os.path.join(work_dir, 'iter_*.pth')):
        m = re.fullmatch(r'iter_(\d+)\.pth', os.path.basename(p))
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def verify_checkpoint(path: str, expected_iter: Optional[int] = None) -> Optional[str]:
    """Why ``path`` cannot be resumed from (it does not load, has no state dict or optimizer state, or claims
    another iteration than ``expected_iter``), or ``None`` when it can."""
    try:
        ckpt = read_checkpoint(path)
    except Exception as e:  # truncated, not a torch file, unreadable: the reason goes into the log
        return f'it does not load ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})'
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'), dict) or not ckpt['state_dict']:
        return 'it has no state_dict'
    it = (ckpt.get('meta') or {}).get('iter')
    if not isinstance(it, int) or it < 0:
        return f'its meta has no iteration (meta.iter={it!r})'
    if expected_iter is not None and it != expected_iter:
        return f'it claims iteration {it}, not {expected_iter}'
    opt = ckpt.get('optimizer')
    if not isinstance(opt, dict) or 'state' not in opt or 'param_groups' not in opt:
        return 'it has no optimizer state'
    return None


def select_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest checkpoint of ``work_dir`` that verifies (:func:`verify_checkpoint`): ``iter_N.pth`` by
    decreasing N, then ``latest.pth``; ``None`` when there is none. Run on rank 0 only: it repairs the folder.

    Each file skipped is logged with the reason and renamed ``<name>.corrupt`` (kept, never deleted), and
    ``latest.pth`` is linked to the one chosen, so ``latest.pth`` and ``iter_N.pth`` never disagree.
    """
    logger = get_root_logger()
    latest = os.path.join(work_dir, LATEST)
    candidates: List[Tuple[str, Optional[int]]] = [(p, n) for n, p in reversed(list_iter_checkpoints(work_dir))]
    if os.path.isfile(latest):
        candidates.append((latest, None))
    chosen = None
    for path, n in candidates:
        reason = verify_checkpoint(path, n)
        if reason is None:
            chosen = path
            break
        logger.warning(f'resume: skipping {path}: {reason}; kept as {os.path.basename(path)}.corrupt')
        os.replace(path, path + '.corrupt')
    if chosen is not None and chosen != latest:
        if not (os.path.isfile(latest) and os.path.samefile(latest, chosen)):
            _link_latest(chosen)
            logger.info(f'resume: {LATEST} now links {os.path.basename(chosen)}')
    return chosen


def find_latest_checkpoint(work_dir: str) -> Optional[str]:
    """``work_dir/latest.pth`` if present, else the ``iter_N.pth`` with the largest N, else ``None``."""
    latest = os.path.join(work_dir, LATEST)
    if os.path.isfile(latest):
        return latest
    found = list_iter_checkpoints(work_dir)
    return found[-1][1] if found else None
