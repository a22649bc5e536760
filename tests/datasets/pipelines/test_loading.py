"""Image/label reading and their error messages."""
import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg.datasets.pipelines import LoadAnnotations, LoadImageFromFile


def _write_jpg(path, h=8, w=10):
    img = np.random.RandomState(1).randint(0, 256, size=(h, w, 3)).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return img


def test_load_image_bgr_and_meta(tmp_path):
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0] = 200  # blue channel first in BGR
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    out = LoadImageFromFile()(dict(img_prefix=str(tmp_path), img_info=dict(filename='a.png')))
    np.testing.assert_array_equal(out['img'], img)
    assert out['filename'] == str(tmp_path / 'a.png') and out['ori_filename'] == 'a.png'
    assert out['ori_shape'] == out['img_shape'] == out['pad_shape'] == (4, 5, 3)
    assert out['scale_factor'] == 1.0 and out['img_norm_cfg']['to_rgb'] is False
    out = LoadImageFromFile(to_float32=True)(dict(img_prefix=None, img_info=dict(filename=str(tmp_path / 'a.png'))))
    assert out['img'].dtype == np.float32


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.jpg'):
        LoadImageFromFile()(dict(img_prefix=str(tmp_path), img_info=dict(filename='missing.jpg')))
    _write_jpg(tmp_path / 'full.jpg', 32, 32)
    data = (tmp_path / 'full.jpg').read_bytes()
    (tmp_path / 'cut.jpg').write_bytes(data[:len(data) // 2])
    with pytest.raises(OSError, match='cut.jpg.*truncated'):
        LoadImageFromFile()(dict(img_prefix=str(tmp_path), img_info=dict(filename='cut.jpg')))
    (tmp_path / 'junk.jpg').write_bytes(b'this is not an image')
    with pytest.raises(OSError, match='junk.jpg'):
        LoadImageFromFile()(dict(img_prefix=str(tmp_path), img_info=dict(filename='junk.jpg')))
    cv2.imwrite(str(tmp_path / 'full.png'), np.zeros((16, 16, 3), np.uint8))
    data = (tmp_path / 'full.png').read_bytes()
    (tmp_path / 'cut.png').write_bytes(data[:-20])
    with pytest.raises(OSError, match='cut.png'):
        LoadImageFromFile()(dict(img_prefix=str(tmp_path), img_info=dict(filename='cut.png')))


def _ann(tmp_path, label, name='l.png', mode='L', **extra):
    im = Image.fromarray(label, mode=mode) if mode == 'L' else Image.fromarray(label).convert('P')
    if mode == 'P':
        im = Image.fromarray(label, mode='P')
        im.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    im.save(tmp_path / name)
    r = dict(seg_prefix=str(tmp_path), ann_info=dict(seg_map=name), seg_fields=[])
    r.update(extra)
    return r


def test_load_annotations_palette_png_gives_indices(tmp_path):
    label = np.array([[0, 1, 2], [3, 4, 255]], np.uint8)
    out = LoadAnnotations()(_ann(tmp_path, label, mode='P'))
    np.testing.assert_array_equal(out['gt_semantic_seg'], label)
    assert out['gt_semantic_seg'].dtype == np.uint8 and out['seg_fields'] == ['gt_semantic_seg']


def test_reduce_zero_label(tmp_path):
    label = np.array([[0, 1, 5, 255]], np.uint8)
    out = LoadAnnotations(reduce_zero_label=True)(_ann(tmp_path, label))
    np.testing.assert_array_equal(out['gt_semantic_seg'], [[255, 0, 4, 255]])


def test_label_map_then_reduce(tmp_path):
    label = np.array([[0, 1, 2]], np.uint8)
    out = LoadAnnotations()(_ann(tmp_path, label, label_map={0: -1, 1: 0, 2: 1}))
    np.testing.assert_array_equal(out['gt_semantic_seg'], [[255, 0, 1]])


def test_label_out_of_range_names_file_and_value(tmp_path):
    label = np.array([[0, 1, 7]], np.uint8)
    with pytest.raises(ValueError, match=r'bad\.png has value 7 .*3 classes'):
        LoadAnnotations()(_ann(tmp_path, label, 'bad.png', num_classes=3, ignore_index=255))
    # 255 is the ignore label and passes; after reduce_zero_label the 0 becomes 255 too
    ok = np.array([[0, 3, 255]], np.uint8)
    out = LoadAnnotations(reduce_zero_label=True)(_ann(tmp_path, ok, 'ok.png', num_classes=3, ignore_index=255))
    np.testing.assert_array_equal(out['gt_semantic_seg'], [[255, 2, 255]])


def test_size_mismatch_names_both_files(tmp_path):
    r = _ann(tmp_path, np.zeros((3, 3), np.uint8), 'lab.png', img=np.zeros((4, 4, 3), np.uint8), filename='pic.jpg')
    with pytest.raises(ValueError, match=r'pic\.jpg.*lab\.png'):
        LoadAnnotations()(r)


def test_missing_label_names_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nolabel.png'):
        LoadAnnotations()(dict(seg_prefix=str(tmp_path), ann_info=dict(seg_map='nolabel.png')))
