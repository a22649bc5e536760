"""Dataset preflight: every bad sample or setting is one error naming the file/key, the value and the fix."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from PIL import Image

from mmseg.datasets import build_dataset
from mmseg.datasets.demo import generate_demo_dataset
from mmseg.datasets.preflight import DatasetCheckError, check_dataset, preflight_config
from .helpers import TRAIN_PIPELINE, TRAIN_PIPELINE_RZL, label, write_pair, write_split

TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='ImageToTensor', keys=['img']),
                 dict(type='Collect', keys=['img'])]
CLASSES4 = ('a', 'b', 'c', 'd')


def label16(values, h=6, w=8):
    """An h×w uint16 label whose columns cycle through ``values``."""
    values = np.asarray(values, np.uint16)
    return np.tile(values[np.arange(w) % len(values)], (h, 1))


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    return generate_demo_dataset(str(tmp_path_factory.mktemp('demo')), num_train=6, num_val=3, size=(48, 64))


def demo_cfg(root, num_classes=4, train_pipeline=TRAIN_PIPELINE_RZL):
    common = dict(type='DemoDataset', data_root=root)
    return dict(model=dict(decode_head=dict(type='LightHamHead', num_classes=num_classes)),
                data=dict(train=dict(common, img_dir='images/training', ann_dir='annotations/training',
                                     pipeline=train_pipeline),
                          val=dict(common, img_dir='images/validation', ann_dir='annotations/validation',
                                   pipeline=TEST_PIPELINE)))


def custom(root, pipeline=TRAIN_PIPELINE, **kw):
    kw.setdefault('classes', CLASSES4)
    return build_dataset(dict(type='CustomDataset', pipeline=pipeline, data_root=str(root), img_dir='img',
                              ann_dir='ann', **kw))


def test_clean_demo_passes_summary_and_cache(demo_root, tmp_path):
    summaries = preflight_config(demo_cfg(demo_root), work_dir=str(tmp_path))
    train = summaries['train']
    assert train.num_images == 6 and summaries['val'].num_images == 3
    assert min(train.heights) == max(train.heights) == 48 and min(train.widths) == 64
    assert train.class_pixels.sum() + train.ignored_pixels == 6 * 48 * 64  # every pixel is counted once
    assert train.ignored_pixels > 0  # the demo's 0-band becomes 255 after reduce_zero_label
    assert train.label_bits == {8: 6}
    assert 'class pixel histogram' in train.format() and 'classes never present' in train.format()
    assert osp.isfile(tmp_path / 'preflight_cache.json')
    again = preflight_config(demo_cfg(demo_root), work_dir=str(tmp_path))
    assert again['train'].cache_hits + again['val'].cache_hits == 2 * 9  # nothing re-read on a restart


def test_changed_file_is_read_again(tmp_path):
    write_pair(str(tmp_path / 'img/x.jpg'), str(tmp_path / 'ann/x.png'), label((0, 1)))
    cache = str(tmp_path / 'wd')
    check_dataset(custom(tmp_path), 4, work_dir=cache)
    Image.fromarray(label((0, 9)), mode='L').save(tmp_path / 'ann/x.png')
    os.utime(tmp_path / 'ann/x.png', ns=(1, 1))  # a different mtime even on coarse clocks
    with pytest.raises(DatasetCheckError, match=r'x\.png: value 9'):
        check_dataset(custom(tmp_path), 4, work_dir=cache)


@pytest.mark.parametrize('num_classes', [3, 6])
def test_head_num_classes_must_match_the_dataset(demo_root, tmp_path, num_classes):
    with pytest.raises(DatasetCheckError) as e:
        preflight_config(demo_cfg(demo_root, num_classes), work_dir=str(tmp_path))
    msg = str(e.value)
    assert f'model.decode_head.num_classes: {num_classes}, but data.train (DemoDataset) has 4 classes' in msg
    assert 'set model.decode_head.num_classes=4' in msg


def test_split_file_naming_a_missing_image(tmp_path):
    write_pair(str(tmp_path / 'img/a.jpg'), str(tmp_path / 'ann/a.png'), label((0, 1)))
    write_split(str(tmp_path / 'split.txt'), ['a', 'gone'])
    ds = custom(tmp_path, split='split.txt')  # building does not read the files
    with pytest.raises(DatasetCheckError) as e:
        check_dataset(ds, 4, work_dir=str(tmp_path))
    msg = str(e.value)
    assert 'image listed but missing: 1 file' in msg and osp.join('img', 'gone.jpg') in msg
    assert osp.join('ann', 'gone.png') in msg and 'split file' in msg


def test_label_value_outside_the_classes_names_file_value_and_count(tmp_path):
    for i, values in enumerate([(0, 1), (0, 7), (3, 7, 255)]):
        write_pair(str(tmp_path / f'img/{i}.jpg'), str(tmp_path / f'ann/{i}.png'), label(values), seed=i)
    with pytest.raises(DatasetCheckError) as e:
        check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path))
    msg = str(e.value)
    assert 'label value outside 0..3 and 255: 2 files' in msg
    assert f'{osp.join(str(tmp_path), "ann", "1.png")}: value 7' in msg and '2.png: value 7' in msg


def test_values_after_reduce_zero_label_are_checked(tmp_path):
    # 5 is class 4 after reduce_zero_label: out of range for 4 classes; 0 and 255 are ignored
    write_pair(str(tmp_path / 'img/a.jpg'), str(tmp_path / 'ann/a.png'), label((0, 1, 4, 5, 255)))
    ds = custom(tmp_path, pipeline=TRAIN_PIPELINE_RZL, reduce_zero_label=True)
    with pytest.raises(DatasetCheckError, match=r'after reduce_zero_label.*\n.*a\.png: value 5 \(-> 4\)'):
        check_dataset(ds, 4, work_dir=str(tmp_path))


def test_16_bit_labels_are_read_at_full_depth(tmp_path):
    write_pair(str(tmp_path / 'img/a.jpg'), None, None, img_size=(6, 8))
    os.makedirs(tmp_path / 'ann')
    Image.fromarray(label16((0, 1, 256, 1000))).save(tmp_path / 'ann/a.png')
    assert Image.open(tmp_path / 'ann/a.png').mode == 'I;16'
    with pytest.raises(DatasetCheckError) as e:
        check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path))
    assert 'a.png: values 256, 1000' in str(e.value)  # not 0 and 232: nothing wraps
    # in range: a 16-bit file with small values passes and is counted as 16-bit
    Image.fromarray(label16((0, 1, 3))).save(tmp_path / 'ann/a.png')
    summary, _ = check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path))
    assert summary.label_bits == {16: 1} and summary.class_pixels[3] > 0


def test_rgb_label_and_size_mismatch_and_broken_image(tmp_path):
    write_pair(str(tmp_path / 'img/rgb.jpg'), None, None, img_size=(6, 8))
    os.makedirs(tmp_path / 'ann')
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(tmp_path / 'ann/rgb.png')
    write_pair(str(tmp_path / 'img/big.jpg'), str(tmp_path / 'ann/big.png'), label((0, 1)), img_size=(7, 8))
    write_pair(str(tmp_path / 'img/junk.jpg'), str(tmp_path / 'ann/junk.png'), label((0, 1)))
    (tmp_path / 'img/junk.jpg').write_bytes(b'not an image')
    with pytest.raises(DatasetCheckError) as e:
        check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path))
    msg = str(e.value)
    assert 'rgb.png: has 3 channels (mode RGB)' in msg and 'convert("L")' in msg
    assert 'big.png: label 6x8 but image' in msg and 'big.jpg is 7x8' in msg
    assert 'image does not decode: 1 file' in msg and 'junk.jpg' in msg


def test_palette_label_gives_indices(tmp_path):
    write_pair(str(tmp_path / 'img/p.jpg'), None, None, img_size=(6, 8))
    os.makedirs(tmp_path / 'ann')
    im = Image.fromarray(label((0, 2, 3)), mode='P')
    im.putpalette([200, 10, 10] * 256)  # colours unrelated to the indices
    im.save(tmp_path / 'ann/p.png')
    summary, _ = check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path))
    assert summary.class_pixels.tolist() == [18, 0, 18, 12]  # 8 columns cycling 0, 2, 3; 6 rows


def test_train_pipeline_and_evaluation_disagree_on_reduce_zero_label(tmp_path):
    write_pair(str(tmp_path / 'img/a.jpg'), str(tmp_path / 'ann/a.png'), label((0, 1, 2)))
    common = dict(type='CustomDataset', data_root=str(tmp_path), img_dir='img', ann_dir='ann', classes=CLASSES4)
    cfg = dict(model=dict(decode_head=dict(num_classes=4)),
               data=dict(train=dict(common, pipeline=TRAIN_PIPELINE_RZL), val=dict(common, pipeline=TEST_PIPELINE)))
    with pytest.raises(DatasetCheckError) as e:
        preflight_config(cfg, work_dir=str(tmp_path))
    msg = str(e.value)
    assert 'LoadAnnotations(reduce_zero_label=True) in its pipeline but the dataset has reduce_zero_label=False' in msg
    assert 'data.val: evaluates with reduce_zero_label=False but training labels use reduce_zero_label=True' in msg


def test_skip_reads_nothing(tmp_path):
    write_pair(str(tmp_path / 'img/a.jpg'), str(tmp_path / 'ann/a.png'), label((0, 9)))
    common = dict(type='CustomDataset', data_root=str(tmp_path), img_dir='img', ann_dir='ann', classes=CLASSES4)
    cfg = dict(model=dict(decode_head=dict(num_classes=4)), data=dict(train=dict(common, pipeline=TRAIN_PIPELINE)))
    assert preflight_config(cfg, splits=('train',), skip=True) is None
    with pytest.raises(DatasetCheckError, match='value 9'):
        preflight_config(cfg, splits=('train',), work_dir=str(tmp_path))


def test_many_files_are_counted_not_all_listed(tmp_path):
    for i in range(7):
        write_pair(str(tmp_path / f'img/{i}.jpg'), str(tmp_path / f'ann/{i}.png'), label((0, 8)), seed=i)
    with pytest.raises(DatasetCheckError) as e:
        check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path), num_workers=3)
    msg = str(e.value)
    assert ': 7 files' in msg and '... and 4 more' in msg and msg.count('value 8') == 3


def test_cv2_written_16_bit_label(tmp_path):
    write_pair(str(tmp_path / 'img/a.jpg'), None, None, img_size=(6, 8))
    os.makedirs(tmp_path / 'ann')
    cv2.imwrite(str(tmp_path / 'ann/a.png'), label16((0, 260)))
    with pytest.raises(DatasetCheckError, match=r'a\.png: value 260'):
        check_dataset(custom(tmp_path), 4, work_dir=str(tmp_path))
