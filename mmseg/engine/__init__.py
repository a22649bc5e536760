"""Training engine: optimizer/LR builders, checkpoints, resumable sampling and the iteration-based runner."""
from .checkpoint import (find_latest_checkpoint, get_rng_state, list_iter_checkpoints, resume_checkpoint,
                         save_checkpoint, set_rng_state, unwrap_model)
from .dist import init_dist
from .lr_scheduler import LrScheduler, build_lr_scheduler
from .optimizer import build_optimizer, describe_param_groups
from .runner import IterBasedRunner, NonFiniteLossError, TrainingInterrupted, revert_sync_batchnorm
from .sampler import InfiniteResumableSampler, SeededDataset, ShardSampler

__all__ = [
    'find_latest_checkpoint', 'get_rng_state', 'list_iter_checkpoints', 'resume_checkpoint', 'save_checkpoint',
    'set_rng_state', 'unwrap_model', 'init_dist', 'LrScheduler', 'build_lr_scheduler', 'build_optimizer',
    'describe_param_groups', 'IterBasedRunner', 'NonFiniteLossError', 'TrainingInterrupted',
    'revert_sync_batchnorm', 'InfiniteResumableSampler', 'SeededDataset', 'ShardSampler'
]
