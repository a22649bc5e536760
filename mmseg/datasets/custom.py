"""``CustomDataset``: image/label pairs found by suffix or listed in a split file (mmseg 0.24.1 semantics)."""
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from mmseg.registry import DATASETS
from mmseg.utils import get_root_logger
from .legacy_api import DatasetApi0241
from .pipelines import Compose, LoadAnnotations


def scan_files(root: str, suffix: str) -> List[str]:
    """Paths under ``root`` (relative, recursive, sorted) whose names end with ``suffix``."""
    found = []
    for dirpath, _, files in os.walk(root, followlinks=True):
        rel = osp.relpath(dirpath, root)
        for f in files:
            if f.endswith(suffix):
                found.append(f if rel == '.' else osp.join(rel, f))
    return sorted(found)


def read_split(path: str) -> List[str]:
    """Non-empty stripped lines of a split file (basenames without suffix)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'split file {path} does not exist')
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f'split file {path} is empty')
    return names


@DATASETS.register_module()
class CustomDataset(DatasetApi0241, Dataset):
    """Semantic segmentation dataset.

    Images ``img_dir/<name><img_suffix>`` pair with labels ``ann_dir/<name><seg_map_suffix>``. Names come from
    ``split`` (one basename per line) or a recursive scan of ``img_dir``. Relative ``img_dir``/``ann_dir``/``split``
    are joined to ``data_root``. ``classes`` (names or a file with one per line) may select a subset of a
    subclass's ``CLASSES``; labels of dropped classes become 255.

    A train sample is the pipeline output for ``dict(img_info, ann_info)``; a test sample has no ``ann_info``.

    The protocol that loops and checks use, shared with the wrappers: :meth:`leaves` (the file-backed datasets),
    :meth:`label_path` (the label file of a sample) and :meth:`format_prediction` (a prediction as the submission
    image). 0.24.1's ``get_gt_seg_maps``/``pre_eval``/``evaluate``/``format_results`` come from
    :class:`~mmseg.datasets.legacy_api.DatasetApi0241`.
    """

    CLASSES: Optional[Sequence[str]] = None
    PALETTE: Optional[Sequence[Sequence[int]]] = None

    def __init__(self, pipeline: Union[Sequence[dict], Callable], img_dir: str, img_suffix: str = '.jpg',
                 ann_dir: Optional[str] = None, seg_map_suffix: str = '.png', split: Optional[str] = None,
                 data_root: Optional[str] = None, test_mode: bool = False, ignore_index: int = 255,
                 reduce_zero_label: bool = False, classes: Union[str, Sequence[str], None] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None):
        for key, val in (('img_dir', img_dir), ('ann_dir', ann_dir), ('split', split)):
            if isinstance(val, (list, tuple)):
                raise TypeError(f'{type(self).__name__}: {key} is a list; build list-valued datasets with '
                                f'mmseg.datasets.build_dataset, which concatenates one dataset per entry')
        self.pipeline = pipeline if isinstance(pipeline, Compose) else Compose(pipeline)
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.data_root = data_root
        self.test_mode = test_mode
        self.ignore_index = ignore_index
        self.reduce_zero_label = reduce_zero_label
        self.label_map: Optional[Dict[int, int]] = None
        self.CLASSES, self.PALETTE = self.get_classes_and_palette(classes, palette)
        self.gt_seg_map_loader = LoadAnnotations()

        if data_root is not None:
            if not osp.isdir(data_root):
                raise FileNotFoundError(f'data_root {data_root} does not exist')
            img_dir = img_dir if osp.isabs(img_dir) else osp.join(data_root, img_dir)
            if ann_dir is not None and not osp.isabs(ann_dir):
                ann_dir = osp.join(data_root, ann_dir)
            if split is not None and not osp.isabs(split):
                split = osp.join(data_root, split)
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'img_dir {img_dir} does not exist')
        if ann_dir is not None and not osp.isdir(ann_dir):
            raise FileNotFoundError(f'ann_dir {ann_dir} does not exist')
        self.img_dir, self.ann_dir, self.split = img_dir, ann_dir, split
        self.img_infos = self.load_annotations(img_dir, img_suffix, ann_dir, seg_map_suffix, split)
        if not self.img_infos:
            raise ValueError(f'no images ending with "{img_suffix}" found in {img_dir}')
        get_root_logger().info(f'{type(self).__name__}: loaded {len(self.img_infos)} images from {img_dir}')

    # -- file lists -------------------------------------------------------------------------------------------
    def seg_map_name(self, img_name: str) -> str:
        """Label file name for an image path relative to ``img_dir``."""
        return img_name[:-len(self.img_suffix)] + self.seg_map_suffix

    def load_annotations(self, img_dir: str, img_suffix: str, ann_dir: Optional[str], seg_map_suffix: str,
                         split: Optional[str]) -> List[dict]:
        """List of ``dict(filename=..., ann=dict(seg_map=...))`` (``ann`` only with ``ann_dir``)."""
        infos = []
        if split is not None:
            names = [n + img_suffix for n in read_split(split)]
        else:
            names = scan_files(img_dir, img_suffix)
        for name in names:
            info = dict(filename=name)
            if ann_dir is not None:
                info['ann'] = dict(seg_map=self.seg_map_name(name))
            infos.append(info)
        if split is None:
            infos.sort(key=lambda x: x['filename'])
        return infos

    # -- classes ----------------------------------------------------------------------------------------------
    def get_classes_and_palette(self, classes, palette):
        """Resolve class names (a subset of ``CLASSES`` sets ``label_map``) and a palette (random if missing)."""
        self.custom_classes = classes is not None
        if classes is None:
            names = self.CLASSES
        elif isinstance(classes, str):
            if not osp.isfile(classes):
                raise FileNotFoundError(f'classes file {classes} does not exist')
            with open(classes) as f:
                names = [line.strip() for line in f if line.strip()]  # a list, as mmcv.list_from_file in 0.24.1
        elif isinstance(classes, (tuple, list)):
            names = classes  # returned as given (a list stays a list), as in 0.24.1
        else:
            raise TypeError(f'classes must be a file name or a list of names, got {type(classes).__name__}')
        if self.CLASSES and classes is not None:
            unknown = [c for c in names if c not in self.CLASSES]
            if unknown:
                raise ValueError(f"classes {unknown} are not in {type(self).__name__}.CLASSES")
            if list(names) != list(self.CLASSES):
                # Labels on disk use the full class list; map them to positions in the subset (-1 = drop).
                self.label_map = {i: (names.index(c) if c in names else -1) for i, c in enumerate(self.CLASSES)}
        return names, self.get_palette_for_custom_classes(names, palette)

    def get_palette_for_custom_classes(self, names, palette=None):
        if names is None:
            return palette
        if palette is not None:
            if len(palette) != len(names):
                raise ValueError(f'palette has {len(palette)} colours but there are {len(names)} classes')
            return [list(c) for c in palette]
        if self.label_map is not None and self.PALETTE is not None:
            return [list(self.PALETTE[old]) for old, new in sorted(self.label_map.items(), key=lambda kv: kv[1])
                    if new >= 0]
        if self.PALETTE is not None and len(self.PALETTE) == len(names):
            return [list(c) for c in self.PALETTE]
        # Seeded with a private generator so the global numpy RNG (used by the transforms) is untouched.
        return np.random.RandomState(42).randint(0, 255, size=(len(names), 3)).tolist()

    # -- samples ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.img_infos)

    def get_ann_info(self, idx: int) -> dict:
        if 'ann' not in self.img_infos[idx]:
            raise KeyError(f'{type(self).__name__} has no ann_dir, so sample {idx} has no label')
        return self.img_infos[idx]['ann']

    def pre_pipeline(self, results: dict) -> None:
        results['seg_fields'] = []
        results['img_prefix'] = self.img_dir
        results['seg_prefix'] = self.ann_dir
        results['ignore_index'] = self.ignore_index
        if self.CLASSES is not None:
            results['num_classes'] = len(self.CLASSES)
        if self.custom_classes and self.label_map is not None:
            results['label_map'] = self.label_map

    def prepare_train_img(self, idx: int) -> dict:
        results = dict(img_info=self.img_infos[idx], ann_info=self.get_ann_info(idx))
        self.pre_pipeline(results)
        return self.pipeline(results)

    def prepare_test_img(self, idx: int) -> dict:
        results = dict(img_info=self.img_infos[idx])
        self.pre_pipeline(results)
        return self.pipeline(results)

    def __getitem__(self, idx: int) -> dict:
        return self.prepare_test_img(idx) if self.test_mode else self.prepare_train_img(idx)

    def get_gt_seg_map_by_idx(self, index: int) -> np.ndarray:
        """Label H×W uint8 as stored on disk (no zero reduction; a class subset's label_map is applied)."""
        results = dict(ann_info=self.get_ann_info(index))
        self.pre_pipeline(results)
        results.pop('num_classes', None)  # raw labels: values are checked against classes after reduction only
        self.gt_seg_map_loader(results)
        return results['gt_semantic_seg']

    # -- the dataset protocol ---------------------------------------------------------------------------------
    def leaves(self) -> List['CustomDataset']:
        """The file-backed datasets this one is made of: itself (wrappers list theirs)."""
        return [self]

    def leaf_index(self, index: int):
        """``(leaf dataset, its sample index)`` of sample ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for {type(self).__name__} of length {len(self)}')
        return self, index % len(self)

    def label_path(self, index: int) -> Optional[str]:
        """The label file of sample ``index`` (None without ``ann_dir``)."""
        info = self.img_infos[self.leaf_index(index)[1]]
        if 'ann' not in info:
            return None
        return osp.join(self.ann_dir, info['ann']['seg_map']) if self.ann_dir else info['ann']['seg_map']

    def format_prediction(self, pred: np.ndarray, index: Optional[int] = None, to_label_id: bool = True) -> Image.Image:
        """A prediction [H, W] as the submission image: the class index as 8-bit grey, plus 1 under
        ``reduce_zero_label`` (label 0 was "other" on disk), as 0.24.1's ``format_results``. ``index``/
        ``to_label_id`` are for wrappers and Cityscapes."""
        out = np.asarray(pred).astype(np.int64)
        if self.reduce_zero_label:
            out = out + 1
        return Image.fromarray(out.astype(np.uint8))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(img_dir={self.img_dir!r}, ann_dir={self.ann_dir!r}, split={self.split!r}, '
                f'num_samples={len(self)}, num_classes={len(self.CLASSES) if self.CLASSES else None}, '
                f'test_mode={self.test_mode})')
