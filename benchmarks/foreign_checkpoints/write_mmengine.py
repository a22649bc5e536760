"""Write checkpoints exactly as MMSegmentation 1.2.2 writes them; runs INSIDE the reference venv
(``benchmarks/reference_env.sh``), never imports this project.

    /work/main/.ref_venv/bin/python -I benchmarks/foreign_checkpoints/write_mmengine.py OUT_DIR [--variant micro|t]

1. trains MMSegmentation's own SegNeXt (MSCAN + LightHamHead, ``EncoderDecoder``) with mmengine's ``Runner`` for
   2 iterations on a generated 4-image dataset; its ``CheckpointHook`` writes ``iter_2.pth`` (top-level keys
   ``meta, state_dict, message_hub, optimizer, param_schedulers``);
2. runs MMSegmentation's ``tools/misc/publish_model.py`` on it (drops ``optimizer`` only; its ``torch.load`` needs
   ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` on torch >= 2.6);
3. saves ``expected.pt`` (plain tensors): a fixed input, the trained model's stride-8 head logits with
   ``torch.manual_seed(s)`` right before each head forward (the official NMF draw) and the class names/palette.

``micro`` is a 4-stage MSCAN with tiny widths (a ~100 KB test fixture); ``t`` is the real SegNeXt-T config of
MMSegmentation (``segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py``; ~50 MB, for a one-off check).
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import torch

CLASSES = ('sky', 'road', 'car', 'tree', 'person')
PALETTE = [[70, 130, 180], [128, 64, 128], [0, 0, 142], [107, 142, 35], [220, 20, 60]]
SEEDS = (0, 1)
MICRO = dict(backbone=dict(embed_dims=[8, 8, 16, 16], depths=[1, 1, 1, 1], mlp_ratios=[2, 2, 2, 2],
                           drop_path_rate=0.0),
             head=dict(in_channels=[8, 16, 16], channels=32, ham_channels=32, MD_R=4))


def write_dataset(root: str, n: int = 4, size: int = 64) -> None:
    import cv2
    rng = np.random.RandomState(0)
    for sub in ('img', 'ann'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for i in range(n):
        cv2.imwrite(osp.join(root, 'img', f'{i}.png'), rng.randint(0, 256, (size, size, 3), dtype=np.uint8))
        cv2.imwrite(osp.join(root, 'ann', f'{i}.png'), rng.randint(0, len(CLASSES), (size, size), dtype=np.uint8))


def build_config(variant: str, data_root: str, work_dir: str):
    from mmengine.config import Config
    import mmseg
    if variant == 't':
        cfg_path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'segnext',
                            'segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512.py')
        cfg = Config.fromfile(cfg_path)
        cfg.model.backbone.init_cfg = None  # no download: random init, as the parity check does
        cfg.model.backbone.norm_cfg = dict(type='BN', requires_grad=True)
        cfg.model.decode_head.num_classes = len(CLASSES)
    else:
        cfg = Config(dict(
            default_scope='mmseg',
            model=dict(type='EncoderDecoder',
                       data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                                              std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                                              seg_pad_val=255, size=(64, 64)),
                       backbone=dict(type='MSCAN', in_channels=3, attention_kernel_sizes=[5, [1, 7], [1, 11],
                                                                                          [1, 21]],
                                     attention_kernel_paddings=[2, [0, 3], [0, 5], [0, 10]], drop_rate=0.0,
                                     act_cfg=dict(type='GELU'), norm_cfg=dict(type='BN', requires_grad=True),
                                     **MICRO['backbone']),
                       decode_head=dict(type='LightHamHead', in_index=[1, 2, 3], dropout_ratio=0.1,
                                        num_classes=len(CLASSES), align_corners=False,
                                        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
                                        ham_kwargs=dict(MD_S=1, MD_R=MICRO['head']['MD_R'], train_steps=6,
                                                        eval_steps=7, inv_t=100, rand_init=True),
                                        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                                         loss_weight=1.0),
                                        **{k: v for k, v in MICRO['head'].items() if k != 'MD_R'}),
                       train_cfg=dict(), test_cfg=dict(mode='whole')),
            optim_wrapper=dict(type='OptimWrapper',
                               # SGD without momentum keeps the optimizer state (and the fixture) small; the
                               # 't' variant keeps MMSegmentation's AdamW
                               optimizer=dict(type='SGD', lr=0.01, momentum=0.0, weight_decay=0.0005),
                               paramwise_cfg=dict(custom_keys=dict(pos_block=dict(decay_mult=0.0),
                                                                   norm=dict(decay_mult=0.0),
                                                                   head=dict(lr_mult=10.0)))),
            default_hooks=dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=1),
                               param_scheduler=dict(type='ParamSchedulerHook'),
                               checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
                               sampler_seed=dict(type='DistSamplerSeedHook')),
            env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                         dist_cfg=dict(backend='gloo')),
            log_processor=dict(by_epoch=False), log_level='INFO', load_from=None, resume=False))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='RandomCrop', crop_size=(64, 64)), dict(type='PackSegInputs')]
    cfg.train_dataloader = dict(
        batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='InfiniteSampler', shuffle=False),
        dataset=dict(type='BaseSegDataset', data_root=data_root, data_prefix=dict(img_path='img', seg_map_path='ann'),
                     img_suffix='.png', seg_map_suffix='.png', metainfo=dict(classes=CLASSES, palette=PALETTE),
                     pipeline=pipeline))
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=1000)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=1),
                           dict(type='PolyLR', power=1.0, begin=1, end=2, eta_min=0.0, by_epoch=False)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    cfg.default_hooks.pop('visualization', None)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg.pop(key, None)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    cfg.experiment_name = f'segnext_{variant}_foreign_fixture'
    return cfg


@torch.no_grad()
def expected_logits(model, size: int = 32) -> dict:
    model.eval()
    inputs = torch.randn((1, 3, size, size), generator=torch.Generator().manual_seed(123))
    feats = model.backbone(inputs)
    logits = {}
    for seed in SEEDS:
        torch.manual_seed(seed)  # the NMF bases are the head forward's only RNG draw
        logits[seed] = model.decode_head(feats).clone()
    return dict(inputs=inputs, logits=logits)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument('out_dir')
    p.add_argument('--variant', choices=['micro', 't'], default='micro')
    args = p.parse_args()
    import mmseg
    from mmengine.runner import Runner
    from mmseg.utils import register_all_modules
    register_all_modules()
    torch.set_num_threads(1)
    out = osp.abspath(args.out_dir)
    work = osp.join(out, 'work')
    shutil.rmtree(work, ignore_errors=True)
    write_dataset(osp.join(work, 'data'))
    runner = Runner.from_cfg(build_config(args.variant, osp.join(work, 'data'), work))
    runner.train()
    ckpt = osp.join(work, 'iter_2.pth')
    shutil.copy(ckpt, osp.join(out, 'mmengine_iter_2.pth'))
    expected = expected_logits(runner.model)
    expected.update(classes=list(CLASSES), palette=PALETTE, mmseg_version=mmseg.__version__, variant=args.variant,
                    model_cfg=dict(MICRO) if args.variant == 'micro' else None)
    torch.save(expected, osp.join(out, 'mmengine_expected.pt'))
    # MMSegmentation's own publish script (drops 'optimizer', adds the sha256 prefix to the name)
    publish = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'misc', 'publish_model.py')
    # it calls torch.load(path) without weights_only, which torch >= 2.6 refuses for this very file; this env
    # variable restores the old default for that one trusted run
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    subprocess.run([sys.executable, '-I', publish, ckpt, osp.join(out, 'mmengine_published.pth')], check=True,
                   cwd=out, env=env)
    shutil.rmtree(work)
    for name in sorted(os.listdir(out)):
        print(name, os.path.getsize(osp.join(out, name)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
