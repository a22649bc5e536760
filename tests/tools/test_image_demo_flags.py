"""The official demo's flags in tools/image_demo.py (``--out-file``, ``--palette``, ``--opacity``), next to ours."""
import cv2
import numpy as np
import pytest
import torch

from mmseg.apis import inference_segmentor, init_segmentor
from mmseg.datasets.class_names import CITYSCAPES_PALETTE
from tests.conftest import load_script, randomize_
from tests.tools.demo_data import DEMO_CONFIG

OPTS = {'model.backbone.depths': [1, 1, 1, 1], 'data.test.pipeline.1.img_scale': (64, 64)}
ARGS = ['--cfg-options', 'model.backbone.depths=[1,1,1,1]', 'data.test.pipeline.1.img_scale=(64,64)']


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('demo_flags')
    model = randomize_(init_segmentor(DEMO_CONFIG, cfg_options=OPTS, fuse=False), seed=4)
    with torch.no_grad():
        model.decode_head.conv_seg.bias.zero_()
    torch.save({'state_dict': model.state_dict()}, tmp / 'm.pth')
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (48, 64, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp / 'in.png'), img)
    return tmp, img


def test_out_file_palette_opacity(setup):
    tmp, img = setup
    tool = load_script('tools/image_demo.py')
    out = tmp / 'official.png'
    assert tool.main([str(tmp / 'in.png'), DEMO_CONFIG, str(tmp / 'm.pth'), '--out-file', str(out),
                      '--palette', 'cityscapes', '--opacity', '0.7', '--no-legend'] + ARGS) == 0
    seg = inference_segmentor(init_segmentor(DEMO_CONFIG, str(tmp / 'm.pth'), cfg_options=OPTS), str(tmp / 'in.png'))[0]
    palette_bgr = np.asarray(CITYSCAPES_PALETTE, np.float64)[:, ::-1]
    expected = 0.3 * img + 0.7 * palette_bgr[seg]
    assert np.abs(cv2.imread(str(out)).astype(np.float64) - expected).max() <= 1.0
    # our spelling writes the same file
    ours = tmp / 'ours.png'
    assert tool.main([str(tmp / 'in.png'), DEMO_CONFIG, str(tmp / 'm.pth'), '--out', str(ours), '--palette',
                      'cityscapes', '--opacity', '0.7', '--no-legend'] + ARGS) == 0
    assert np.array_equal(cv2.imread(str(ours)), cv2.imread(str(out)))


def test_unknown_palette_is_an_argument_error(setup, capsys):
    tmp, _ = setup
    with pytest.raises(SystemExit):
        load_script('tools/image_demo.py').main([str(tmp / 'in.png'), DEMO_CONFIG, str(tmp / 'm.pth'),
                                                 '--palette', 'nope'])
    assert "--palette 'nope' is not one of" in capsys.readouterr().err
