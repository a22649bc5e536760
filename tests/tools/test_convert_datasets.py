"""Dataset converters: tiny synthetic inputs in each source format, outputs checked pixel by pixel."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import load_script

ROOT = Path(__file__).resolve().parents[2]


def load_tool(name: str):
    return load_script(f'tools/convert_datasets/{name}.py')


def read(path) -> np.ndarray:
    return np.array(Image.open(path))


# ----------------------------------------------------------------------------------------------- COCO-Stuff 164k
def test_coco_stuff_mapping_table():
    coco = load_tool('coco_stuff164k')
    mapping = coco.raw_to_train_id()
    assert sorted(mapping.values()) == list(range(171))
    assert all(u not in mapping for u in coco.UNUSED_RAW_IDS)
    # ids around the gaps: 10 → 10, 12 → 11 (11 unused), 91 (first stuff id) → 80, 181 → 170
    assert (mapping[10], mapping[12], mapping[91], mapping[181]) == (10, 11, 80, 170)


def test_coco_stuff_convert(tmp_path):
    coco = load_tool('coco_stuff164k')
    raw = np.arange(256, dtype=np.uint8).reshape(16, 16)  # every possible byte, unused ids and 255 included
    for split, label in [('train2017', raw), ('val2017', raw[::-1])]:
        (tmp_path / 'annotations' / split).mkdir(parents=True)
        Image.fromarray(label).save(tmp_path / 'annotations' / split / f'{split}_0001.png')
    mapping = coco.raw_to_train_id()
    out = tmp_path / 'out'
    assert coco.main([str(tmp_path), '-o', str(out), '--nproc', '2']) == 0
    for split, label in [('train2017', raw), ('val2017', raw[::-1])]:
        got = read(out / 'annotations' / split / f'{split}_0001_labelTrainIds.png')
        want = np.vectorize(lambda v: mapping.get(int(v), 255))(label)
        np.testing.assert_array_equal(got, want)

    # converting in place twice does not pick up its own outputs
    coco.main([str(tmp_path)])
    coco.main([str(tmp_path)])
    assert not list(tmp_path.rglob('*_labelTrainIds_labelTrainIds.png'))


def test_coco_stuff_errors(tmp_path):
    coco = load_tool('coco_stuff164k')
    with pytest.raises(FileNotFoundError, match='annotations'):
        coco.main([str(tmp_path / 'nowhere')])
    (tmp_path / 'annotations' / 'val2017').mkdir(parents=True)
    (tmp_path / 'annotations' / 'val2017' / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(RuntimeError, match='broken.png'):
        coco.main([str(tmp_path)])


# ----------------------------------------------------------------------------------------------- Pascal Context
def test_pascal_context_selected_ids():
    pc = load_tool('pascal_context')
    ids = pc.SELECTED_RAW_IDS
    assert len(ids) == len(set(ids)) == 60 and ids[0] == 0 and list(ids) == sorted(ids)
    lut = pc.lookup_table()
    assert (lut[0], lut[2], lut[458], lut[1]) == (0, 1, 59, 0)  # 1 (accordion) is not selected → background


def test_pascal_context_convert(tmp_path):
    from scipy.io import savemat
    pc = load_tool('pascal_context')
    rng = np.random.RandomState(0)
    src = tmp_path / 'raw'
    src.mkdir()
    mat_label = rng.randint(0, 460, size=(7, 9)).astype(np.uint16)
    mat_label[0, :3] = [0, 2, 458]
    savemat(src / '2008_000002.mat', {'LabelMap': mat_label})
    png_label = rng.choice(list(pc.SELECTED_RAW_IDS) + [1, 3, 300], size=(5, 6)).astype(np.uint16)
    Image.fromarray(png_label).save(src / '2008_000003.png')

    assert pc.main([str(src)]) == 0
    ids = list(pc.SELECTED_RAW_IDS)
    for name, label in [('2008_000002', mat_label), ('2008_000003', png_label)]:
        got = read(tmp_path / 'SegmentationClassContext' / f'{name}.png')
        want = np.vectorize(lambda v: ids.index(v) if v in ids else 0)(label)
        np.testing.assert_array_equal(got, want)


def test_pascal_context_errors(tmp_path):
    from scipy.io import savemat
    pc = load_tool('pascal_context')
    with pytest.raises(FileNotFoundError, match='missing_dir'):
        pc.main([str(tmp_path / 'missing_dir')])
    src = tmp_path / 'raw'
    src.mkdir()
    savemat(src / 'bad_id.mat', {'LabelMap': np.array([[0, 500]], dtype=np.uint16)})
    with pytest.raises(RuntimeError, match='bad_id.mat.*500'):
        pc.main([str(src), '-o', str(tmp_path / 'o1')])
    (src / 'bad_id.mat').unlink()
    savemat(src / 'no_key.mat', {'Other': np.zeros((2, 2))})
    with pytest.raises(RuntimeError, match="no_key.mat.*LabelMap"):
        pc.main([str(src), '-o', str(tmp_path / 'o2')])


# ----------------------------------------------------------------------------------------------- Cityscapes
def rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def write_polygons(path: Path, objects, width=8, height=6):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'imgHeight': height, 'imgWidth': width, 'objects': objects}))


def test_cityscapes_convert(tmp_path, monkeypatch):
    cs = load_tool('cityscapes')
    monkeypatch.setattr(cs, '_official_json2label', lambda: None)  # always test the built-in rasteriser
    objects = [
        {'label': 'road', 'polygon': rect(0, 0, 7, 5)},
        {'label': 'car', 'polygon': rect(1, 1, 3, 3)},
        {'label': 'persongroup', 'polygon': rect(2, 2, 5, 4)},  # drawn over the car; 'group' suffix dropped
        {'label': 'sky', 'polygon': rect(0, 0, 7, 5), 'deleted': 1},  # deleted: ignored
        {'label': 'license plate', 'polygon': rect(0, 0, 1, 1)},  # negative id: not drawn
        {'label': 'static', 'polygon': rect(6, 4, 7, 5)},  # trainId 255
    ]
    gt = tmp_path / 'gtFine'
    write_polygons(gt / 'train' / 'aachen' / 'aachen_000000_000019_gtFine_polygons.json', objects)
    write_polygons(gt / 'train' / 'bochum' / 'bochum_000000_000001_gtFine_polygons.json', [])
    write_polygons(gt / 'val' / 'frankfurt' / 'frankfurt_000000_000294_gtFine_polygons.json',
                   [{'label': 'sky', 'polygon': rect(0, 0, 3, 2)}], width=4, height=3)

    assert cs.main([str(tmp_path), '--nproc', '2']) == 0
    t = cs.NAME_TO_TRAIN_ID
    want = np.full((6, 8), t['road'], dtype=np.uint8)
    want[1:4, 1:4] = t['car']
    want[2:5, 2:6] = t['person']
    want[4:6, 6:8] = t['static']
    np.testing.assert_array_equal(read(gt / 'train' / 'aachen' / 'aachen_000000_000019_gtFine_labelTrainIds.png'),
                                  want)
    np.testing.assert_array_equal(read(gt / 'train' / 'bochum' / 'bochum_000000_000001_gtFine_labelTrainIds.png'),
                                  np.full((6, 8), t['unlabeled']))
    np.testing.assert_array_equal(
        read(gt / 'val' / 'frankfurt' / 'frankfurt_000000_000294_gtFine_labelTrainIds.png'), np.full((3, 4), t['sky']))

    assert (tmp_path / 'train.txt').read_text().splitlines() == [
        'aachen/aachen_000000_000019', 'bochum/bochum_000000_000001'
    ]
    assert (tmp_path / 'val.txt').read_text().splitlines() == ['frankfurt/frankfurt_000000_000294']
    assert not (tmp_path / 'test.txt').exists()


def test_cityscapes_label_table():
    cs = load_tool('cityscapes')
    train_ids = sorted(t for _, _, t in cs.LABELS if 0 <= t < 255)
    assert train_ids == list(range(19))
    assert (cs.NAME_TO_TRAIN_ID['road'], cs.NAME_TO_TRAIN_ID['bicycle'], cs.NAME_TO_TRAIN_ID['caravan']) == (0, 18, 255)


def test_cityscapes_errors(tmp_path, monkeypatch):
    cs = load_tool('cityscapes')
    monkeypatch.setattr(cs, '_official_json2label', lambda: None)
    with pytest.raises(FileNotFoundError, match='gtFine'):
        cs.main([str(tmp_path)])
    bad = tmp_path / 'gtFine' / 'train' / 'x' / 'x_0_1_gtFine_polygons.json'
    write_polygons(bad, [{'label': 'dragon', 'polygon': rect(0, 0, 1, 1)}])
    with pytest.raises(RuntimeError, match="x_0_1_gtFine_polygons.json.*'dragon'"):
        cs.main([str(tmp_path)])
    bad.write_text('{not json')
    with pytest.raises(RuntimeError, match='x_0_1_gtFine_polygons.json'):
        cs.main([str(tmp_path)])


# ----------------------------------------------------------------------------------------------- VOC + SBD
def save_palette_png(path: Path, label: np.ndarray):
    image = Image.fromarray(label, mode='P')
    image.putpalette([v for i in range(256) for v in (i * 7 % 256, i * 13 % 256, i * 29 % 256)])
    image.save(path)


def make_voc(tmp_path: Path, rng):
    from scipy.io import savemat
    sbd = tmp_path / 'benchmark_RELEASE' / 'dataset'
    (sbd / 'cls').mkdir(parents=True)
    sbd_labels = {n: rng.randint(0, 21, size=(4, 5)).astype(np.uint8) for n in ('a', 'b', 'c')}
    for name, label in sbd_labels.items():
        savemat(sbd / 'cls' / f'{name}.mat',
                {'GTcls': {'Segmentation': label, 'Boundaries': np.zeros(1), 'CategoriesPresent': np.ones(1)}})
    (sbd / 'train.txt').write_text('a\nb\n')
    (sbd / 'val.txt').write_text('c\n')

    voc = tmp_path / 'VOCdevkit' / 'VOC2012'
    (voc / 'SegmentationClass').mkdir(parents=True)
    (voc / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    voc_labels = {}
    for name in ('c', 'd', 'e'):
        label = rng.randint(0, 21, size=(3, 6)).astype(np.uint8)
        label[0, 0] = 255  # object boundary
        save_palette_png(voc / 'SegmentationClass' / f'{name}.png', label)
        voc_labels[name] = label
    (voc / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('d\na\n')
    (voc / 'ImageSets' / 'Segmentation' / 'val.txt').write_text('e\nb\n')
    return sbd, voc, sbd_labels, voc_labels


def test_voc_aug_convert(tmp_path):
    voc_aug = load_tool('voc_aug')
    sbd, voc, sbd_labels, voc_labels = make_voc(tmp_path, np.random.RandomState(0))
    assert voc_aug.main([str(tmp_path / 'VOCdevkit'), str(tmp_path / 'benchmark_RELEASE')]) == 0
    out = voc / 'SegmentationClassAug'
    for name, label in sbd_labels.items():  # c exists in both: SBD's label is kept
        np.testing.assert_array_equal(read(out / f'{name}.png'), label)
    for name in ('d', 'e'):
        got = Image.open(out / f'{name}.png')
        assert got.mode == 'L'
        np.testing.assert_array_equal(np.array(got), voc_labels[name])
    # (SBD train+val ∪ VOC train) − VOC val = {a, b, c, d} − {e, b}
    assert (voc / 'ImageSets' / 'Segmentation' / 'aug.txt').read_text().splitlines() == ['a', 'c', 'd']


def test_voc_aug_errors(tmp_path):
    voc_aug = load_tool('voc_aug')
    with pytest.raises(FileNotFoundError, match='VOC2012'):
        voc_aug.main([str(tmp_path / 'VOCdevkit'), str(tmp_path / 'benchmark_RELEASE')])
    sbd, voc, _, _ = make_voc(tmp_path, np.random.RandomState(1))
    (sbd / 'val.txt').unlink()
    with pytest.raises(FileNotFoundError, match='val.txt'):
        voc_aug.main([str(tmp_path / 'VOCdevkit'), str(tmp_path / 'benchmark_RELEASE')])
    (sbd / 'val.txt').write_text('c\n')
    (sbd / 'cls' / 'b.mat').write_bytes(b'garbage')
    with pytest.raises(RuntimeError, match='b.mat'):
        voc_aug.main([str(tmp_path / 'VOCdevkit'), str(tmp_path / 'benchmark_RELEASE')])


# ----------------------------------------------------------------------------------------------- iSAID
def test_isaid_windows_with_default_patch():
    isaid = load_tool('isaid')
    args = isaid.parse_args(['root'])
    assert (args.patch_size, args.overlap) == (896, 384)
    assert isaid.windows(2000, 896, 896 - 384) == [(0, 896), (512, 1408), (1024, 1920), (1104, 2000)]
    assert isaid.windows(896, 896, 512) == [(0, 896)]


def test_isaid_convert(tmp_path):
    isaid = load_tool('isaid')
    rng = np.random.RandomState(0)
    palette = np.array(isaid.PALETTE, dtype=np.uint8)
    src = tmp_path / 'iSAID'
    images, labels = {}, {}
    for split, name, (h, w) in [('train', 'P0001', (10, 13)), ('val', 'P0002', (5, 6)), ('test', 'P0003', (8, 8))]:
        (src / split / 'images').mkdir(parents=True)
        images[name] = rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)
        Image.fromarray(images[name]).save(src / split / 'images' / f'{name}.png')
        if split != 'test':
            labels[name] = rng.randint(0, 16, size=(h, w)).astype(np.uint8)
            rgb = palette[labels[name]]
            rgb[0, 0] = (1, 2, 3)  # not in the palette → 255
            labels[name][0, 0] = 255
            (src / split / 'Semantic_masks' / 'images').mkdir(parents=True)
            Image.fromarray(rgb).save(src / split / 'Semantic_masks' / 'images' / f'{name}_instance_color_RGB.png')

    out = tmp_path / 'out'
    assert isaid.main([str(src), '-o', str(out), '--patch-size', '8', '--overlap', '4']) == 0

    # 10×13 with patch 8, stride 4: y windows (0,8) (2,10); x windows (0,8) (4,12) (5,13)
    expected = {('train', 'P0001'): [(y, x) for y in [(0, 8), (2, 10)] for x in [(0, 8), (4, 12), (5, 13)]],
                ('val', 'P0002'): [((0, 8), (0, 8))], ('test', 'P0003'): [((0, 8), (0, 8))]}
    for (split, name), wins in expected.items():
        img = np.pad(images[name], [(0, max(8 - images[name].shape[0], 0)), (0, max(8 - images[name].shape[1], 0)),
                                    (0, 0)])
        names = sorted(p.name for p in (out / 'img_dir' / split).iterdir())
        assert names == sorted(f'{name}_{y1}_{y2}_{x1}_{x2}.png' for (y1, y2), (x1, x2) in wins)
        for (y1, y2), (x1, x2) in wins:
            stem = f'{name}_{y1}_{y2}_{x1}_{x2}'
            np.testing.assert_array_equal(read(out / 'img_dir' / split / f'{stem}.png'), img[y1:y2, x1:x2])
            if split == 'test':
                continue
            lab = labels[name]
            lab = np.pad(lab, [(0, max(8 - lab.shape[0], 0)), (0, max(8 - lab.shape[1], 0))], constant_values=255)
            got = read(out / 'ann_dir' / split / f'{stem}_instance_color_RGB.png')
            np.testing.assert_array_equal(got, lab[y1:y2, x1:x2])
    assert not (out / 'ann_dir' / 'test').exists()


def test_isaid_errors(tmp_path):
    isaid = load_tool('isaid')
    with pytest.raises(FileNotFoundError, match='nowhere'):
        isaid.main([str(tmp_path / 'nowhere')])
    (tmp_path / 'train' / 'images').mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / 'train' / 'images' / 'P0009.png')
    with pytest.raises(FileNotFoundError, match='P0009_instance_color_RGB.png'):
        isaid.main([str(tmp_path)])
    with pytest.raises(SystemExit):
        isaid.parse_args(['root', '--patch-size', '8', '--overlap', '8'])
