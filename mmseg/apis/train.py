"""``train_segmentor`` and seeding helpers (mmseg 0.24.1 API names)."""
import os
import random
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..engine.dist import broadcast_object
from ..engine.runner import IterBasedRunner
from ..utils import get_root_logger


def init_random_seed(seed: Optional[int] = None) -> int:
    """``seed`` if given, else a random seed drawn on rank 0 and broadcast so every rank uses the same one."""
    if seed is not None:
        return int(seed)
    return int(broadcast_object(int(np.random.randint(2 ** 31))))


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python/numpy/torch (all devices); ``deterministic`` also forces deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def build_evaluator(dataset: Any):
    """A ``SegEvaluator`` matching ``dataset``'s classes, ignore index and zero-label reduction."""
    from ..core.evaluation import SegEvaluator
    return SegEvaluator(num_classes=len(dataset.CLASSES), ignore_index=getattr(dataset, 'ignore_index', 255),
                        reduce_zero_label=getattr(dataset, 'reduce_zero_label', False),
                        class_names=list(dataset.CLASSES))


def train_segmentor(model: torch.nn.Module, dataset: Any, cfg: Any, distributed: bool = False,
                    validate: bool = False, timestamp: Optional[str] = None,
                    meta: Optional[Dict[str, Any]] = None) -> IterBasedRunner:
    """Train ``model`` on ``dataset`` (or ``[dataset]``) per ``cfg``; resume/load as ``cfg`` says.

    ``cfg.resume_from`` restores the full training state; ``cfg.load_from`` only the weights.
    With ``validate``, ``cfg.data.val`` is evaluated every ``evaluation.interval`` iterations.
    """
    logger = get_root_logger()
    workflow = cfg.get('workflow') or [('train', 1)]
    if [tuple(w)[0] for w in workflow] != ['train']:
        logger.warning(f'workflow {workflow}: only the train phase runs; validation uses `evaluation`')
    val_loader = evaluator = None
    if validate:
        from ..datasets import build_dataset
        from ..engine.data import build_eval_loader
        val_dataset = build_dataset(cfg.data.val, dict(test_mode=True))
        val_loader = build_eval_loader(val_dataset, 1, cfg.data.get('workers_per_gpu', 0), distributed)
        evaluator = build_evaluator(val_dataset)
    runner = IterBasedRunner(model, cfg, dataset, distributed, val_loader, evaluator, timestamp, meta)
    if cfg.get('resume_from'):
        runner.resume(cfg.resume_from)
    elif cfg.get('load_from'):
        runner.load_from(cfg.load_from)
    runner.run()
    return runner
