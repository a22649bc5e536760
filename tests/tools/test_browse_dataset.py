import cv2
import numpy as np

from tests.conftest import load_script
from tests.tools.demo_data import DEMO_CONFIG, demo_options, make_demo


def test_writes_train_samples_with_ground_truth(tmp_path):
    root = make_demo(tmp_path / 'demo')
    out = tmp_path / 'browse'
    tool = load_script('tools/browse_dataset.py')
    assert tool.main([DEMO_CONFIG, '--output-dir', str(out), '--num', '2', '--opacity', '1.0']
                     + demo_options(root)) == 0
    files = sorted(out.iterdir())
    assert len(files) == 2 and files[0].name.startswith('000000_demo_')
    drawn = cv2.imread(str(files[0]))
    crop = 96  # the demo train pipeline crops (and pads) to 96×96: the drawing is after the pipeline
    assert drawn.shape[0] == crop and drawn.shape[1] > crop  # overlay + legend panel
    # opacity 1: labelled pixels are exactly palette colours of the demo classes
    from mmseg.datasets.demo import DemoDataset
    palette_bgr = {tuple(c[::-1]) for c in DemoDataset.PALETTE}
    pixels = {tuple(p) for p in drawn[:, :crop].reshape(-1, 3)}
    assert len(pixels & palette_bgr) >= 2


def test_draw_sample_leaves_ignored_pixels_alone():
    tool = load_script('tools/browse_dataset.py')
    img = np.full((40, 40, 3), 100, np.uint8)
    seg = np.full((40, 40), 255)
    seg[:, :10], seg[:, 10:20] = 0, 1
    drawn = tool.draw_sample(dict(img=img, gt_semantic_seg=seg), [[255, 0, 0], [0, 255, 0]], ['a', 'b'], 1.0)
    assert drawn.shape[0] == 40 and drawn.shape[1] > 40  # legend on the right
    assert (drawn[:, 20:40] == 100).all()
    assert tuple(drawn[0, 0]) == (0, 0, 255) and tuple(drawn[0, 10]) == (0, 255, 0)  # BGR of the RGB palette


def test_show_origin_keeps_stored_size(tmp_path):
    root = make_demo(tmp_path / 'demo')
    out = tmp_path / 'origin'
    tool = load_script('tools/browse_dataset.py')
    assert tool.main([DEMO_CONFIG, '--output-dir', str(out), '--num', '1', '--show-origin']
                     + demo_options(root)) == 0
    (f,) = out.iterdir()
    assert cv2.imread(str(f)).shape[0] == 64  # the stored 64×64 image, not the 96×96 crop
