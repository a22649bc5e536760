"""A model zoo by name: published SegNeXt weights usable wherever a checkpoint is.

``resolve(config, checkpoint)`` is the one call the tools and ``init_segmentor`` make: a zoo name (or URL) in either
place becomes ``(config file, local checkpoint path)``, downloading the file once into the torch hub cache
(sha256 prefix in its name checked). Anything else passes through unchanged.

Entries: MMSegmentation's ADE20K SegNeXt checkpoints (trained with mmengine; read safely by
``mmseg.models.checkpoint``) and its ImageNet MSCAN backbones. ``$SEGNEXT_ZOO`` may name a JSON file of further
entries (a list of objects with the :class:`ZooEntry` fields; same name = override), e.g. a private zoo, or the test
suite's zoo served from a local server. ``$SEGNEXT_DOWNLOAD_MIRROR`` redirects the downloads
(``mmseg.models.checkpoint_files.mirrored``).
"""
import difflib
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

from .checkpoint_files import download_checkpoint, hash_prefix_of, is_url

ZOO_ENV = 'SEGNEXT_ZOO'
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_OPENMMLAB = 'https://download.openmmlab.com/mmsegmentation/v0.5'


class ZooError(KeyError):
    """An unknown zoo name or an entry that cannot be used where it was given."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ''


@dataclass(frozen=True)
class ZooEntry:
    name: str
    url: str
    config: Optional[str]  # relative to the repository root (or absolute); None for backbones
    dataset: str
    num_classes: int
    miou: Optional[float] = None  # published single-scale mIoU (%)
    miou_ms_flip: Optional[float] = None  # published multi-scale + flip mIoU (%)
    kind: str = 'segmentor'  # or 'backbone' (ImageNet weights: init_cfg.checkpoint or --load-from)

    @property
    def sha256_prefix(self) -> Optional[str]:
        return hash_prefix_of(self.url)

    def config_path(self) -> str:
        if self.config is None:
            raise ZooError(f"'{self.name}' is an ImageNet {self.kind}, not a segmentor: give it as "
                           f"model.backbone.init_cfg.checkpoint or --load-from with a segmentation config")
        path = self.config if osp.isabs(self.config) else osp.join(REPO_ROOT, self.config)
        if not osp.isfile(path):
            raise ZooError(f"zoo entry '{self.name}': its config {path} does not exist (it ships with the repository's "
                           f"local_configs/; give your own config file instead)")
        return path


def _ade(size: str, letter: str, stamp: str, miou: float, ms_flip: float) -> ZooEntry:
    run = f'segnext_mscan-{letter}_1x16_512x512_adamw_160k_ade20k'
    return ZooEntry(name=f'segnext_mscan-{letter}_ade20k', url=f'{_OPENMMLAB}/segnext/{run}/{run}_{stamp}.pth',
                    config=f'local_configs/segnext/{size}/segnext.{size}.512x512.ade.160k.py', dataset='ADE20K',
                    num_classes=150, miou=miou, miou_ms_flip=ms_flip)


def _in1k(letter: str, stamp: str) -> ZooEntry:
    return ZooEntry(name=f'mscan-{letter}_in1k', url=f'{_OPENMMLAB}/pretrain/segnext/mscan_{letter}_{stamp}.pth',
                    config=None, dataset='ImageNet-1k', num_classes=1000, kind='backbone')


# mIoU: MMSegmentation's SegNeXt metafile (ADE20K val, 512x512, 160k iterations)
BUILTIN: Tuple[ZooEntry, ...] = (
    _ade('tiny', 't', '20230210_140244-05bd8466', 41.50, 42.59),
    _ade('small', 's', '20230214_113014-43013668', 44.16, 45.81),
    _ade('base', 'b', '20230209_172053-b6f6c70c', 48.03, 49.68),
    _ade('large', 'l', '20230209_172055-19b14b63', 50.99, 52.10),
    _in1k('t', '20230227-119e8c9f'),
    _in1k('s', '20230227-f33ccdf2'),
    _in1k('b', '20230227-3ab7d230'),
    _in1k('l', '20230227-cef260d4'),
)


def zoo() -> Dict[str, ZooEntry]:
    """Every entry by name: the built-in table, then ``$SEGNEXT_ZOO``'s."""
    entries = {e.name: e for e in BUILTIN}
    extra = os.environ.get(ZOO_ENV)
    if extra:
        try:
            with open(extra, encoding='utf-8') as f:
                items = json.load(f)
            names = {f.name for f in fields(ZooEntry)}
            for item in items:
                unknown = set(item) - names
                if unknown:
                    raise ValueError(f'unknown keys {sorted(unknown)} (allowed: {sorted(names)})')
                entry = ZooEntry(**item)
                entries[entry.name] = entry
        except (OSError, ValueError, TypeError) as e:
            raise ZooError(f'${ZOO_ENV}={extra}: cannot read the zoo table: {e}') from e
    return entries


def get(name: str) -> ZooEntry:
    entries = zoo()
    if name in entries:
        return entries[name]
    close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ''
    raise ZooError(f"'{name}' is not a file nor a model zoo name{hint}; `python tools/zoo.py list` shows the names")


def looks_like_name(value: Any) -> bool:
    """A bare word (no path separator, no file extension, not an existing path): meant as a zoo name."""
    if not isinstance(value, str) or not value or is_url(value) or os.path.exists(value):
        return False
    return '/' not in value and os.sep not in value and not osp.splitext(value)[1].lstrip('.').isalpha() \
        and not value.startswith('hf-hub:')


def download(name: str, folder: Optional[str] = None, progress: bool = True) -> str:
    """The entry's checkpoint, downloaded once into ``folder`` (default: the torch hub cache); its local path."""
    return download_checkpoint(get(name).url, progress=progress, folder=folder)


def resolve_checkpoint(checkpoint: Any) -> Any:
    """A zoo name or an http(s) URL → local path (downloaded once); anything else unchanged. An unknown bare name
    raises :class:`ZooError` with close matches."""
    if isinstance(checkpoint, str) and checkpoint in zoo():
        return download(checkpoint)
    if is_url(checkpoint):
        return download_checkpoint(checkpoint)
    if looks_like_name(checkpoint):
        get(checkpoint)  # raises with suggestions
    return checkpoint


def resolve(config: Any, checkpoint: Any = None) -> Tuple[Any, Any]:
    """``(config, checkpoint)`` with zoo names resolved: ``resolve('segnext_mscan-t_ade20k')`` gives the entry's config
    and downloaded weights; ``resolve(my_config, 'segnext_mscan-t_ade20k')`` keeps ``my_config``. URLs are
    downloaded. Other values pass through (config files, hub folders, ``hf-hub:`` ids)."""
    if isinstance(config, str) and checkpoint is None and config in zoo():
        entry = get(config)
        return entry.config_path(), download(config)
    if isinstance(config, str) and looks_like_name(config) and checkpoint is None:
        get(config)  # an unknown bare name: raise with suggestions rather than "config file not found"
    return config, resolve_checkpoint(checkpoint) if checkpoint is not None else None


def table() -> List[Dict[str, Any]]:
    return [dict(asdict(e), sha256_prefix=e.sha256_prefix) for e in zoo().values()]
