"""Small points where mmseg 0.24.1 is the reference: COCO-Stuff's 'sky-other' colour and the loaders' repr."""
from mmseg.datasets import COCOStuffDataset
from mmseg.datasets.pipelines import LoadAnnotations, LoadImageFromFile


def test_coco_stuff_sky_other_colour():
    assert COCOStuffDataset.CLASSES[145] == 'sky-other'
    assert COCOStuffDataset.PALETTE[144:147] == [[0, 192, 32], [64, 224, 64], [64, 0, 64]]


def test_loader_repr_as_0_24_1():
    assert repr(LoadImageFromFile()) == "LoadImageFromFile(to_float32=False,color_type='color',imdecode_backend='cv2')"
    assert repr(LoadAnnotations(reduce_zero_label=True)) == \
        "LoadAnnotations(reduce_zero_label=True,imdecode_backend='pillow')"
