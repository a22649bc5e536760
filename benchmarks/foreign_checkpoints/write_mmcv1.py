"""Write a checkpoint exactly as the official SegNeXt code (MMSegmentation 0.24.1 on mmcv 1.x) writes one; runs
INSIDE the mmcv 1.x venv (``benchmarks/foreign_checkpoints/mmcv1_env.sh``), never imports this project.

    /work/envs/mmcv1/bin/python -I benchmarks/foreign_checkpoints/write_mmcv1.py WEIGHTS.pt OUT.pth

``WEIGHTS.pt`` is a plain state dict in the official key layout. mmcv's ``IterBasedRunner`` trains a module holding
those tensors (a stand-in loss: the official MSCAN code is not installable) for 2 iterations with SGD and poly
LR, and its ``CheckpointHook`` saves ``iter_2.pth``. The meta is set the way the official ``tools/train.py`` sets it
(``env_info, seed, exp_name`` on the runner; ``mmseg_version, config, CLASSES, PALETTE`` on the checkpoint hook),
plus ``hook_msgs`` with a numpy ``best_score`` as mmcv's ``EvalHook(save_best=...)`` leaves it; mmcv adds
``iter, epoch, mmcv_version, time`` and the optimizer state.
"""
import os
import os.path as osp
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

CLASSES = ('sky', 'road', 'car', 'tree', 'person')
PALETTE = [[70, 130, 180], [128, 64, 128], [0, 0, 142], [107, 142, 35], [220, 20, 60]]
BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')


class Holder(nn.Module):
    """A module whose ``state_dict`` has exactly the given keys (parameters, and BN statistics as buffers)."""

    def __init__(self, state_dict):
        super().__init__()
        for key, value in state_dict.items():
            *path, leaf = key.split('.')
            mod = self
            for part in path:
                if part not in mod._modules:
                    mod.add_module(part, nn.Module())
                mod = mod._modules[part]
            if leaf in BUFFERS:
                mod.register_buffer(leaf, value.clone())
            else:
                mod.register_parameter(leaf, nn.Parameter(value.clone()))

    def train_step(self, data_batch, optimizer, **kwargs):
        loss = sum((p.float() ** 2).mean() for p in self.parameters()) * data_batch[0].mean()
        return dict(loss=loss, log_vars=dict(loss=float(loss.detach())), num_samples=1)


def main(argv) -> int:
    if len(argv) != 3:
        print(f'usage: {argv[0]} WEIGHTS.pt OUT.pth', file=sys.stderr)
        return 2
    import mmcv
    from mmcv.runner import IterBasedRunner
    from mmcv.utils import get_logger
    torch.manual_seed(0)
    model = Holder(torch.load(argv[1], map_location='cpu', weights_only=True))
    work = tempfile.mkdtemp()
    logger = get_logger('mmseg', log_file=osp.join(work, 'train.log'))
    # plain SGD keeps the fixture under 200 KB (AdamW's two buffers per tensor would triple it); the optimizer entry
    # (param_groups, state) is still what mmcv writes
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.0, weight_decay=0.0005)
    config_text = ("model = dict(type='EncoderDecoder', backbone=dict(type='MSCAN'), "
                   "decode_head=dict(type='LightHamHead'))\n")
    runner = IterBasedRunner(model, optimizer=optimizer, work_dir=work, logger=logger, max_iters=2,
                             meta=dict(env_info='sys.platform: linux\nmmcv: ' + mmcv.__version__, seed=0,
                                       exp_name='segnext.micro.official.py',
                                       hook_msgs=dict(best_score=np.float64(0.4125), best_ckpt='best_mIoU.pth')))
    runner.register_training_hooks(
        lr_config=dict(policy='poly', power=1.0, min_lr=0.0, by_epoch=False), optimizer_config=dict(),
        checkpoint_config=dict(by_epoch=False, interval=2,
                               meta=dict(mmseg_version='0.24.1+segnext', config=config_text, CLASSES=CLASSES,
                                         PALETTE=PALETTE)),
        log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook')]))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=1)
    runner.run([loader], [('train', 2)])
    shutil.copy(osp.join(work, 'iter_2.pth'), argv[2])
    shutil.rmtree(work)
    print(argv[2], os.path.getsize(argv[2]), 'mmcv', mmcv.__version__)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
