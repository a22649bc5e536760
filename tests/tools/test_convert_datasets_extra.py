"""Converters for mmseg 0.24.1's retinal-vessel and remote-sensing datasets, on tiny archives in the distributed
layouts: outputs checked pixel by pixel, then loaded by the dataset class; wrong archives give errors naming the
file and what was expected."""
import gzip
import io
import logging
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from tests.conftest import load_script

from mmseg.datasets import build_dataset
from mmseg.datasets.convert_utils import ArchiveError, isprs_boxes, isprs_colour_to_label

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]


def tool(name):
    return load_script(f'tools/convert_datasets/{name}.py')


def encode(ext: str, img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def gif(gray: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(gray, mode='L').save(out, format='GIF')
    return out.getvalue()


def write_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, 'w') as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def rand_img(seed, h=5, w=6):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


def read(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


VESSEL = np.array([[0, 100, 127, 128, 200, 255]] * 5, np.uint8)  # → 0 0 0 1 1 1


# ---------------------------------------------------------------------------------------------------------- DRIVE
def test_drive(tmp_path):
    imgs = {k: rand_img(k) for k in (21, 1)}
    train = write_zip(tmp_path / 'training.zip', {
        'training/images/21_training.tif': encode('.tif', imgs[21]),
        'training/1st_manual/21_manual1.gif': gif(VESSEL),
        'training/mask/21_training_mask.gif': gif(VESSEL)})
    test = write_zip(tmp_path / 'test.zip', {
        'test/images/01_test.tif': encode('.tif', imgs[1]), 'test/1st_manual/01_manual1.gif': gif(VESSEL[:, ::-1])})
    out = tmp_path / 'DRIVE'
    assert tool('drive').main([str(train), str(test), '-o', str(out)]) == 0
    np.testing.assert_array_equal(read(out / 'images/training/21.png'), imgs[21])
    np.testing.assert_array_equal(read(out / 'images/validation/01.png'), imgs[1])
    assert read(out / 'annotations/training/21_manual1.png').tolist() == [[0, 0, 0, 1, 1, 1]] * 5
    assert read(out / 'annotations/validation/01_manual1.png').tolist() == [[1, 1, 1, 0, 0, 0]] * 5
    ds = build_dataset(dict(type='DRIVEDataset', data_root=str(out), img_dir='images/validation',
                            ann_dir='annotations/validation', pipeline=LOAD))
    assert ds[0]['gt_semantic_seg'][0].tolist() == [1, 1, 1, 0, 0, 0]

    with pytest.raises(ArchiveError, match=r'test\.zip has no training/images/'):
        tool('drive').main([str(test), str(train), '-o', str(out)])
    (tmp_path / 'bad.zip').write_text('not an archive')
    with pytest.raises(ArchiveError, match=r'bad\.zip is neither a zip nor a tar archive; expected the DRIVE'):
        tool('drive').main([str(tmp_path / 'bad.zip'), str(test)])
    with pytest.raises(ArchiveError, match='nowhere.zip not found'):
        tool('drive').main([str(tmp_path / 'nowhere.zip'), str(test)])


# ---------------------------------------------------------------------------------------------------------- STARE
def write_tar(path: Path, members: dict) -> Path:
    with tarfile.open(path, 'w') as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_stare(tmp_path):
    ids = [f'im{k:04d}' for k in (1, 2, 3, 4, 5, 44, 77, 81, 82, 139, 162, 163, 235, 236, 239, 240, 255, 291, 319,
                                  324)]
    imgs = {i: rand_img(n) for n, i in enumerate(ids)}
    image_tar = write_tar(tmp_path / 'stare-images.tar',
                          {f'{i}.ppm.gz': gzip.compress(encode('.ppm', imgs[i])) for i in ids})
    lab = np.dstack([VESSEL] * 3)
    ah = write_tar(tmp_path / 'labels-ah.tar', {f'{i}.ah.ppm.gz': gzip.compress(encode('.ppm', lab)) for i in ids})
    vk = write_tar(tmp_path / 'labels-vk.tar', {f'{i}.vk.ppm.gz': gzip.compress(encode('.ppm', 255 - lab))
                                                for i in ids})
    out = tmp_path / 'STARE'
    assert tool('stare').main([str(image_tar), str(ah), str(vk), '-o', str(out)]) == 0
    assert sorted(p.name for p in (out / 'images/training').iterdir()) == [i + '.png' for i in ids[:10]]
    np.testing.assert_array_equal(read(out / 'images/validation/im0324.png'), imgs['im0324'])
    assert read(out / 'annotations/training/im0001.ah.png').tolist() == [[0, 0, 0, 1, 1, 1]] * 5
    assert read(out / 'annotations/training/im0001.vk.png').tolist() == [[1, 1, 1, 0, 0, 0]] * 5
    ds = build_dataset(dict(type='STAREDataset', data_root=str(out), img_dir='images/training',
                            ann_dir='annotations/training', pipeline=LOAD))
    assert len(ds) == 10 and ds.img_infos[0]['ann']['seg_map'] == 'im0001.ah.png'

    short = write_tar(tmp_path / 'short.tar', {'im0001.ppm.gz': gzip.compress(encode('.ppm', imgs['im0001']))})
    with pytest.raises(ArchiveError, match=r'short\.tar has 1 files .*expected the STARE stare-images\.tar with 20'):
        tool('stare').main([str(short), str(ah), str(vk), '-o', str(out)])


# ------------------------------------------------------------------------------------------------------ CHASE_DB1
def test_chase_db1(tmp_path):
    stems = [f'Image_{k:02d}{eye}' for k in range(1, 15) for eye in 'LR']
    members, jpgs = {}, {}
    for n, s in enumerate(stems):
        jpgs[s] = encode('.jpg', rand_img(n))
        members[f'{s}.jpg'] = jpgs[s]
        members[f'{s}_1stHO.png'] = encode('.png', VESSEL)
        members[f'{s}_2ndHO.png'] = encode('.png', VESSEL[:, ::-1])
    src = write_zip(tmp_path / 'CHASEDB1.zip', members)
    out = tmp_path / 'CHASE_DB1'
    assert tool('chase_db1').main([str(src), '-o', str(out)]) == 0
    train = sorted(p.name for p in (out / 'images/training').iterdir())
    assert train == [s + '.png' for s in stems[:20]] and len(list((out / 'images/validation').iterdir())) == 8
    np.testing.assert_array_equal(read(out / 'images/validation/Image_14R.png'),
                                  cv2.imdecode(np.frombuffer(jpgs['Image_14R'], np.uint8), cv2.IMREAD_COLOR))
    assert read(out / 'annotations/validation/Image_14R_2ndHO.png').tolist() == [[1, 1, 1, 0, 0, 0]] * 5
    ds = build_dataset(dict(type='ChaseDB1Dataset', data_root=str(out), img_dir='images/training',
                            ann_dir='annotations/training', pipeline=LOAD))
    assert len(ds) == 20 and ds[0]['gt_semantic_seg'][0].tolist() == [0, 0, 0, 1, 1, 1]

    bad = write_zip(tmp_path / 'other.zip', {'Image_01L.jpg': jpgs['Image_01L']})
    with pytest.raises(ArchiveError, match=r'other\.zip has 1 files.*expected the CHASE_DB1 CHASEDB1\.zip with 84'):
        tool('chase_db1').main([str(bad), '-o', str(out)])


# ------------------------------------------------------------------------------------------------------------ HRF
def test_hrf(tmp_path):
    args, want = [], {}
    for group, tag in (('healthy', 'h'), ('glaucoma', 'g'), ('diabetic_retinopathy', 'dr')):
        imgs = {f'{k:02d}_{tag}': rand_img(k) for k in range(1, 16)}
        want.update(imgs)
        args.append(str(write_zip(tmp_path / f'{group}.zip', {f'{s}.jpg': encode('.png', i) for s, i in imgs.items()})))
        args.append(str(write_zip(tmp_path / f'{group}_manualsegm.zip',
                                  {f'{s}.tif': encode('.tif', VESSEL) for s in imgs})))
    out = tmp_path / 'HRF'
    assert tool('hrf').main(args + ['-o', str(out)]) == 0
    assert sorted(p.name for p in (out / 'images/training').iterdir()) == sorted(
        f'{k:02d}_{t}.png' for t in ('h', 'g', 'dr') for k in range(1, 6))
    assert len(list((out / 'annotations/validation').iterdir())) == 30
    np.testing.assert_array_equal(read(out / 'images/validation/15_dr.png'), want['15_dr'])
    assert read(out / 'annotations/training/01_g.png').tolist() == [[0, 0, 0, 1, 1, 1]] * 5
    ds = build_dataset(dict(type='HRFDataset', data_root=str(out), img_dir='images/training',
                            ann_dir='annotations/training', pipeline=LOAD))
    assert len(ds) == 15

    args[1] = str(write_zip(tmp_path / 'short.zip', {'01_h.tif': encode('.tif', VESSEL)}))
    with pytest.raises(ArchiveError, match=r'short\.zip has 1 files; expected the HRF healthy_manualsegm\.zip'):
        tool('hrf').main(args + ['-o', str(tmp_path / 'HRF2')])


# --------------------------------------------------------------------------------------------------------- LoveDA
def test_loveda(tmp_path, caplog):
    src = tmp_path / 'src'
    src.mkdir()
    files = {}
    for split, start in (('Train', 0), ('Val', 10), ('Test', 20)):
        members = {}
        for k, area in enumerate(('Rural', 'Urban')):
            members[f'{split}/{area}/images_png/{start + k}.png'] = encode('.png', rand_img(start + k))
            if split != 'Test':
                members[f'{split}/{area}/masks_png/{start + k}.png'] = encode('.png', np.full((5, 6), k + 1, np.uint8))
        files.update(members)
        write_zip(src / f'{split}.zip', members)
    out = tmp_path / 'loveDA'
    assert tool('loveda').main([str(src), '-o', str(out)]) == 0
    assert (out / 'img_dir/train/1.png').read_bytes() == files['Train/Urban/images_png/1.png']
    assert (out / 'ann_dir/val/10.png').read_bytes() == files['Val/Rural/masks_png/10.png']
    assert sorted(p.name for p in (out / 'img_dir/test').iterdir()) == ['20.png', '21.png']
    assert not (out / 'ann_dir/test').exists()
    ds = build_dataset(dict(type='LoveDADataset', data_root=str(out), img_dir='img_dir/train', ann_dir='ann_dir/train',
                            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations',
                                                                           reduce_zero_label=True)]))
    assert [int(ds[i]['gt_semantic_seg'][0, 0]) for i in range(2)] == [0, 1]  # 1-based on disk

    (src / 'Test.zip').unlink()
    with caplog.at_level(logging.WARNING):
        assert tool('loveda').main([str(src), '-o', str(tmp_path / 'o2')]) == 0
    assert 'Test.zip not found' in caplog.text
    (src / 'Val.zip').unlink()
    with pytest.raises(ArchiveError, match=r'Val\.zip not found; expected the LoveDA Val\.zip'):
        tool('loveda').main([str(src), '-o', str(tmp_path / 'o3')])
    write_zip(src / 'Val.zip', {'Val/Rural/images_png/1.png': b'x'})
    with pytest.raises(ArchiveError, match=r'Val\.zip has no Val/Rural/masks_png/\*\.png entries'):
        tool('loveda').main([str(src), '-o', str(tmp_path / 'o4')])


# ------------------------------------------------------------------------------------------------ Potsdam/Vaihingen
LEGEND_BGR = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255)]


def colour_label(h, w, seed):
    """A BGR colour label with every legend colour and one unknown colour, and the expected label 0..6."""
    idx = np.random.RandomState(seed).randint(0, 7, (h, w)).astype(np.uint8)
    bgr = np.array(LEGEND_BGR, np.uint8)[idx]
    bgr[0, 0], idx[0, 0] = (10, 20, 30), 0
    return bgr, idx


def test_isprs_boxes_and_legend_by_hand():
    # 10 high, 12 wide, clip 4, stride 2: rows ceil(6/2) = 3 (+1) → starts 0, 4, 8→6, 12→6; cols 4 (+1) → 0, 4, 8,
    # 12→8, 16→8; duplicates dropped
    boxes = isprs_boxes(10, 12, 4, 2)
    assert sorted({b[0] for b in boxes}) == [0, 4, 8] and sorted({b[1] for b in boxes}) == [0, 4, 6]
    assert len(boxes) == 9 and all(x2 - x1 == 4 and y2 - y1 == 4 for x1, y1, x2, y2 in boxes)
    assert len(isprs_boxes(6000, 6000, 512, 256)) == 144  # 24 train tiles → 3456 patches, as 0.24.1 documents
    bgr, want = colour_label(3, 4, 0)
    got, unknown = isprs_colour_to_label(bgr)
    np.testing.assert_array_equal(got, want)
    assert unknown == 1
    # RGB legend: white impervious, blue building, cyan low vegetation, green tree, yellow car, red clutter
    rgb = np.array([[[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]]], np.uint8)
    assert isprs_colour_to_label(rgb[..., ::-1])[0].tolist() == [[1, 2, 3, 4, 5, 6]]


def check_isprs_output(out: Path, split: str, prefix: str, img, idx):
    for x1, y1, x2, y2 in isprs_boxes(10, 12, 4, 2):
        name = f'{prefix}_{x1}_{y1}_{x2}_{y2}.png'
        np.testing.assert_array_equal(read(out / 'img_dir' / split / name), img[y1:y2, x1:x2])
        np.testing.assert_array_equal(read(out / 'ann_dir' / split / name), idx[y1:y2, x1:x2])
    assert len(list((out / 'img_dir' / split).glob(f'{prefix}_*.png'))) == 9


def test_potsdam(tmp_path, caplog):
    src = tmp_path / 'src'
    src.mkdir()
    tiles = {'2_10': 'train', '2_13': 'val'}
    imgs = {t: rand_img(k, 10, 12) for k, t in enumerate(tiles)}
    labels = {t: colour_label(10, 12, k) for k, t in enumerate(tiles)}
    write_zip(src / '2_Ortho_RGB.zip',
              {f'2_Ortho_RGB/top_potsdam_{t}_RGB.tif': encode('.tif', imgs[t]) for t in tiles})
    write_zip(src / '5_Labels_all_noBoundary.zip',
              {f'top_potsdam_{t}_label_noBoundary.tif': encode('.tif', labels[t][0]) for t in tiles})
    out = tmp_path / 'potsdam'
    potsdam = tool('potsdam')
    with caplog.at_level(logging.WARNING):
        assert potsdam.main([str(src), '-o', str(out), '--clip_size', '4', '--stride_size', '2']) == 0
    assert '2 label pixels had a colour outside the ISPRS legend' in caplog.text
    for t, split in tiles.items():
        check_isprs_output(out, split, t, imgs[t], labels[t][1])
    ds = build_dataset(dict(type='PotsdamDataset', data_root=str(out), img_dir='img_dir/val', ann_dir='ann_dir/val',
                            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations',
                                                                           reduce_zero_label=True)]))
    assert len(ds) == 9 and set(np.unique(ds[0]['gt_semantic_seg'])) <= set(range(6)) | {255}
    assert len(potsdam.TRAIN) == 24 and len(potsdam.VAL) == 14 and not potsdam.TRAIN & potsdam.VAL

    (src / '5_Labels_all_noBoundary.zip').unlink()
    with pytest.raises(ArchiveError, match=r'5_Labels_all_noBoundary\.zip not found; expected the Potsdam label zip'):
        potsdam.main([str(src), '-o', str(out)])
    write_zip(src / '5_Labels_all.zip', {'readme.txt': b'x'})
    with pytest.raises(ArchiveError, match=r'5_Labels_all\.zip holds no label tiles'):
        potsdam.main([str(src), '-o', str(out), '--clip_size', '4'])


def test_vaihingen(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    areas = {'area1': 'train', 'area2': 'val'}
    imgs = {a: rand_img(k, 10, 12) for k, a in enumerate(areas)}
    labels = {a: colour_label(10, 12, k) for k, a in enumerate(areas)}
    write_zip(src / 'ISPRS_semantic_labeling_Vaihingen.zip',
              {f'top/top_mosaic_09cm_{a}.tif': encode('.tif', imgs[a]) for a in areas})
    members = {f'top_mosaic_09cm_{a}_noBoundary.tif': encode('.tif', labels[a][0]) for a in areas}
    members['top_mosaic_09cm_area9_noBoundary.tif'] = encode('.tif', labels['area1'][0])
    write_zip(src / 'ISPRS_semantic_labeling_Vaihingen_ground_truth_eroded_COMPLETE.zip', members)
    out = tmp_path / 'vaihingen'
    vaihingen = tool('vaihingen')
    assert vaihingen.main([str(src), '-o', str(out), '--clip_size', '4', '--stride_size', '2']) == 0
    for a, split in areas.items():
        check_isprs_output(out, split, a, imgs[a], labels[a][1])
    assert not list(out.rglob('area9_*'))
    ds = build_dataset(dict(type='ISPRSDataset', data_root=str(out), img_dir='img_dir/train',
                            ann_dir='ann_dir/train', pipeline=LOAD))
    assert len(ds) == 9
    assert len(vaihingen.TRAIN) == 16 and len(vaihingen.VAL) == 17 and not vaihingen.TRAIN & vaihingen.VAL

    with pytest.raises(ArchiveError, match='smaller than --clip_size 512'):
        vaihingen.main([str(src), '-o', str(tmp_path / 'o2')])
    (src / 'ISPRS_semantic_labeling_Vaihingen.zip').unlink()
    with pytest.raises(ArchiveError, match=r'ISPRS_semantic_labeling_Vaihingen\.zip not found; expected the Vaihingen'):
        vaihingen.main([str(src), '-o', str(out)])
