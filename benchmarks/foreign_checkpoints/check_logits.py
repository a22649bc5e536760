"""Compare our logits with MMSegmentation's for a checkpoint its Runner wrote (``write_mmengine.py`` output).

    python benchmarks/foreign_checkpoints/check_logits.py DIR CONFIG [--cfg-options k=v ...]

Loads ``DIR/mmengine_iter_2.pth`` and ``DIR/mmengine_published-*.pth`` with ``init_segmentor(CONFIG, ...)`` (no flag,
unfused, official NMF draw) and prints max|Δ| of the stride-8 head logits against ``DIR/mmengine_expected.pt`` for
each seed; exits 1 above 1e-5.
"""
import argparse
import glob
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
TOL = 1e-5


def main() -> int:
    from mmseg.apis import init_segmentor
    from mmseg.utils.config import DictAction
    p = argparse.ArgumentParser()
    p.add_argument('dir')
    p.add_argument('config')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    args = p.parse_args()
    expected = torch.load(osp.join(args.dir, 'mmengine_expected.pt'), weights_only=True)
    options = dict(args.cfg_options, **{'model.decode_head.nmf_eval_bases': 'official'})
    worst = 0.0
    for ckpt in [osp.join(args.dir, 'mmengine_iter_2.pth')] + glob.glob(osp.join(args.dir, 'mmengine_published-*')):
        model = init_segmentor(args.config, ckpt, fuse=False, cfg_options=options)
        with torch.no_grad():
            feats = model.backbone(expected['inputs'])
            for seed, ref in expected['logits'].items():
                torch.manual_seed(seed)
                delta = (model.decode_head(feats) - ref).abs().max().item()
                worst = max(worst, delta)
                print(f'{osp.basename(ckpt)} seed {seed}: max|Δ| {delta:.2e} (max|ref| {ref.abs().max():.3f}), '
                      f'classes {model.CLASSES[:3]}…')
    seeds = list(expected['logits'].values())
    print(f'seed Δ of the reference: {(seeds[0] - seeds[-1]).abs().max():.2e}; worst {worst:.2e}: '
          f'{"PASS" if worst <= TOL else "FAIL"}')
    return 0 if worst <= TOL else 1


if __name__ == '__main__':
    sys.exit(main())
