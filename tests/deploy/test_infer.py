"""Batched inference_segmentor and tools/infer.py equal image-by-image inference."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.apis import inference_segmentor, init_segmentor
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.demo.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('infer')
    cfg = tmp / 'shallow.py'
    cfg.write_text(f"_base_ = ['{DEMO}']\nmodel = dict(backbone=dict(depths=[1, 1, 1, 1]))\n")
    torch.manual_seed(0)
    model = init_segmentor(str(cfg), fuse=False)
    sys_path = str(ROOT / 'tests')
    import sys
    sys.path.insert(0, sys_path)
    from conftest import randomize_
    randomize_(model, seed=3)
    ckpt = tmp / 'w.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    rng = np.random.RandomState(0)
    imgs = tmp / 'imgs'
    (imgs / 'sub').mkdir(parents=True)
    # equal sizes (batched together), a different size, and a same-input-size/different-original pair
    for name, (h, w) in {'a.jpg': (64, 96), 'b.png': (64, 96), 'sub/c.jpg': (80, 50), 'd.png': (64, 96),
                         'e.png': (65, 97)}.items():
        cv2.imwrite(str(imgs / name), rng.randint(0, 256, (h, w, 3), dtype=np.uint8))
    return str(cfg), str(ckpt), imgs, tmp


def test_batched_equals_single(setup):
    cfg, ckpt, imgs, _ = setup
    model = init_segmentor(cfg, ckpt)
    paths = sorted(str(p) for p in imgs.rglob('*.*'))
    single = [inference_segmentor(model, p)[0] for p in paths]
    for bs in (2, 4, 8):
        batched = inference_segmentor(model, paths, batch_size=bs)
        assert len(batched) == len(single)
        for a, b in zip(batched, single):
            assert a.shape == b.shape and np.array_equal(a, b)
    with pytest.raises(ValueError, match='batch_size'):
        inference_segmentor(model, paths, batch_size=0)


def test_infer_tool_writes_palette_pngs(setup):
    cfg, ckpt, imgs, tmp = setup
    out = tmp / 'out'
    tool = load_script('tools/infer.py')
    assert tool.main([str(imgs), str(out), cfg, ckpt, '--batch-size', '3', '--backend', 'pytorch', '--overlay',
                      '--threads', '1']) == 0
    model = init_segmentor(cfg, ckpt)
    for rel in tool.find_images(str(imgs)):
        label = Image.open(out / (Path(rel).with_suffix('.png')))
        assert label.mode == 'P'
        assert label.getpalette()[:3 * len(model.PALETTE)] == [c for rgb in model.PALETTE for c in rgb]
        ref = inference_segmentor(model, str(imgs / rel))[0]
        assert np.array_equal(np.asarray(label), ref)
        assert (out / 'overlays' / Path(rel).with_suffix('.png')).is_file()


def test_infer_tool_rejects_bad_folders(setup, capsys):
    cfg, ckpt, imgs, tmp = setup
    tool = load_script('tools/infer.py')
    with pytest.raises(SystemExit):
        tool.parse_args([str(tmp / 'nope'), str(tmp / 'o'), cfg, ckpt])
    assert 'nope does not exist' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args([str(imgs), str(imgs), cfg, ckpt])
    empty = tmp / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no image'):
        tool.main([str(empty), str(tmp / 'o'), cfg, ckpt])
