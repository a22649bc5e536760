"""Regenerate tests/fixtures/foreign_checkpoints/: checkpoints written by the real MMSegmentation 1.2.2 (mmengine)
and mmcv 1.x code, for the micro SegNeXt of ``segnext_micro.py`` there.

    python benchmarks/foreign_checkpoints/make_fixtures.py [--ref-python /work/main/.ref_venv/bin/python]
        [--mmcv1-python /work/envs/mmcv1/bin/python] [--out tests/fixtures/foreign_checkpoints]

The two environments come from ``benchmarks/reference_env.sh`` and ``benchmarks/foreign_checkpoints/mmcv1_env.sh``.
Writes ``mmengine_iter_2.pth`` (Runner, 2 iterations), ``mmengine_published-<sha>.pth`` (MMSegmentation's
publish_model.py), ``mmengine_expected.pt`` (the reference logits of that model, official NMF draw) and
``mmcv1_iter_2.pth`` (mmcv's IterBasedRunner + CheckpointHook, official meta). The test suite needs none of the
environments: it reads the committed files.
"""
import argparse
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, REPO)


def micro_weights(path: str, seed: int = 7) -> None:
    """Our micro model with seeded random weights (official layout), as a plain state dict."""
    import torch
    from mmseg.models import build_segmentor
    from mmseg.utils import Config
    cfg = Config.fromfile(osp.join(REPO, 'tests', 'fixtures', 'foreign_checkpoints', 'segnext_micro.py'))
    model = build_segmentor(cfg.model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5 if name.endswith('running_var')
                        else torch.randn(t.shape, generator=gen) * 0.1)
    torch.save(model.state_dict(), path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--ref-python', default='/work/main/.ref_venv/bin/python')
    p.add_argument('--mmcv1-python', default='/work/envs/mmcv1/bin/python')
    p.add_argument('--out', default=osp.join(REPO, 'tests', 'fixtures', 'foreign_checkpoints'))
    args = p.parse_args()
    tmp = tempfile.mkdtemp()
    try:
        subprocess.run([args.ref_python, '-I', osp.join(HERE, 'write_mmengine.py'), osp.join(tmp, 'mmengine')],
                       check=True)
        micro_weights(osp.join(tmp, 'weights.pt'))
        subprocess.run([args.mmcv1_python, '-I', osp.join(HERE, 'write_mmcv1.py'), osp.join(tmp, 'weights.pt'),
                        osp.join(tmp, 'mmcv1_iter_2.pth')], check=True)
        for old in glob.glob(osp.join(args.out, 'mm*.pt*')):
            os.remove(old)
        for src in glob.glob(osp.join(tmp, 'mmengine', 'mm*')) + [osp.join(tmp, 'mmcv1_iter_2.pth')]:
            shutil.copy(src, args.out)
            print(f'{osp.basename(src)}: {osp.getsize(src) / 1024:.0f} KiB')
    finally:
        shutil.rmtree(tmp)
    return 0


if __name__ == '__main__':
    sys.exit(main())
