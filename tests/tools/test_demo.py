"""tools/image_demo.py and tools/video_demo.py on a shallow SegNeXt-T with a saved random checkpoint."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmseg.apis import inference_segmentor, init_segmentor
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'local_configs' / 'segnext' / 'tiny' / 'segnext.tiny.512x512.ade.160k.py')
# Shallow T and a small test scale (the ADE pipeline would upscale the tiny images to 512 short side).
SHALLOW = {'model.backbone.depths': [1, 1, 1, 1], 'data.test.pipeline.1.img_scale': (96, 64)}
CFG_ARGS = ['--cfg-options', 'model.backbone.depths=[1,1,1,1]', 'data.test.pipeline.1.img_scale=(96,64)']


def load_tool(name: str):
    return load_script(f'tools/{name}.py')


def make_image(h: int, w: int, seed: int) -> np.ndarray:
    """Four flat colour quadrants plus noise, so a random model predicts more than one class."""
    rng = np.random.RandomState(seed)
    img = np.zeros((h, w, 3), np.uint8)
    for i, (ys, xs) in enumerate([(slice(0, h // 2), slice(0, w // 2)), (slice(0, h // 2), slice(w // 2, w)),
                                  (slice(h // 2, h), slice(0, w // 2)), (slice(h // 2, h), slice(w // 2, w))]):
        img[ys, xs] = rng.randint(0, 256, 3)
    return np.clip(img.astype(int) + rng.randint(-20, 21, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    sys.path.insert(0, str(ROOT / 'tests'))
    from conftest import randomize_
    model = randomize_(init_segmentor(CONFIG, cfg_options=SHALLOW, fuse=False), seed=3)
    with torch.no_grad():  # random biases would let one class win everywhere
        model.decode_head.conv_seg.bias.zero_()
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return str(path)


def test_image_demo_overlay_colours(tmp_path, checkpoint):
    img = make_image(48, 64, 0)
    img_path, out = tmp_path / 'in.png', tmp_path / 'out.png'
    cv2.imwrite(str(img_path), img)
    opacity = 0.4
    assert load_tool('image_demo').main([str(img_path), CONFIG, checkpoint, '--out', str(out), '--opacity',
                                         str(opacity)] + CFG_ARGS) == 0
    drawn = cv2.imread(str(out))
    assert drawn.shape[0] == 48 and drawn.shape[1] > 64  # overlay + legend panel

    model = init_segmentor(CONFIG, checkpoint, cfg_options=SHALLOW)
    seg = inference_segmentor(model, str(img_path))[0]
    assert seg.shape == (48, 64)
    palette_bgr = np.asarray(model.PALETTE, np.float64)[:, ::-1]
    expected = (1 - opacity) * img + opacity * palette_bgr[seg]
    overlay = drawn[:, :64].astype(np.float64)
    assert np.abs(overlay - expected).max() <= 1.0  # uint8 rounding only
    # The colours are the predicted classes', not any class's: another class's colour would be far off.
    wrong = (1 - opacity) * img + opacity * palette_bgr[(seg + 1) % len(palette_bgr)]
    assert np.abs(overlay - wrong).max() > 10


def test_video_demo_folder_and_mp4(tmp_path, checkpoint):
    frames = tmp_path / 'frames'
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f'f{i}.png'), make_image(40, 56, i))
    (frames / 'notes.txt').write_text('not a frame')
    tool = load_tool('video_demo')
    out_dir = tmp_path / 'out'
    assert tool.main([str(frames), CONFIG, checkpoint, '--out', str(out_dir)] + CFG_ARGS) == 0
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ['f0.png', 'f1.png', 'f2.png']
    assert cv2.imread(str(out_dir / 'f1.png')).shape == (40, 56, 3)

    video = tmp_path / 'out.mp4'
    assert tool.main([str(frames), CONFIG, checkpoint, '--out', str(video), '--fps', '5'] + CFG_ARGS) == 0
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 3


def test_video_demo_empty_folder(tmp_path, checkpoint):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'):
        load_tool('video_demo').main([str(tmp_path / 'empty'), CONFIG, checkpoint, '--out',
                                      str(tmp_path / 'o')] + CFG_ARGS)


def test_image_demo_refuses_an_unwritable_output_before_inference(tmp_path, capsys):
    img_path = tmp_path / 'in.png'
    cv2.imwrite(str(img_path), make_image(48, 64, 0))
    with pytest.raises(SystemExit) as info:  # argparse's error: exit 2, no model built
        load_tool('image_demo').main([str(img_path), CONFIG, str(tmp_path / 'missing.pth'), '--out-file',
                                      str(tmp_path / 'x.xyz')])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--out-file '" in err and "x.xyz': no image writer for the extension .xyz" in err
