"""Model folders and ``hf-hub:`` ids as the first argument of the inference builder (a leaf module: it imports
nothing of ``mmseg.apis``, so ``hub.py`` and the builder can both use it)."""
import os
import os.path as osp
from typing import Any, Optional, Tuple

HF_PREFIX = 'hf-hub:'
CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = 'config.py', 'model.safetensors', 'README.md'


def is_pretrained_folder(path: Any) -> bool:
    """A folder holding ``config.py`` and ``model.safetensors``."""
    return isinstance(path, (str, os.PathLike)) and osp.isfile(osp.join(path, CONFIG_FILE)) and \
        osp.isfile(osp.join(path, WEIGHTS_FILE))


def resolve_pretrained(name_or_path: Any, revision: Optional[str] = None,
                       cache_dir: Optional[str] = None) -> Optional[Tuple[str, str]]:
    """``(config.py, model.safetensors)`` paths for a hub folder or an ``hf-hub:owner/name[@rev]`` id; ``None``
    for anything else (a config file), so the builder can call it on its first argument."""
    if isinstance(name_or_path, str) and name_or_path.startswith(HF_PREFIX):
        return _download_from_hub(name_or_path[len(HF_PREFIX):], revision, cache_dir)
    if isinstance(name_or_path, (str, os.PathLike)) and osp.isdir(name_or_path):
        if not is_pretrained_folder(name_or_path):
            raise FileNotFoundError(f'{name_or_path} is a folder but not a SegNeXt model folder: it needs '
                                    f'{CONFIG_FILE} and {WEIGHTS_FILE} (written by tools/export_hub.py)')
        return osp.join(name_or_path, CONFIG_FILE), osp.join(name_or_path, WEIGHTS_FILE)
    return None


def _download_from_hub(repo: str, revision: Optional[str], cache_dir: Optional[str]) -> Tuple[str, str]:
    if '@' in repo:
        repo, revision = repo.split('@', 1)
    if repo.count('/') != 1 or not all(repo.split('/')):
        raise ValueError(f"expected '{HF_PREFIX}owner/name[@revision]', got '{HF_PREFIX}{repo}'")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as e:
        raise ImportError(f"loading '{HF_PREFIX}{repo}' needs the huggingface_hub package: "
                          f"pip install huggingface_hub (or pip install -e \".[hub]\")") from e
    paths = []
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        try:
            paths.append(hf_hub_download(repo, name, revision=revision, cache_dir=cache_dir))
        except Exception as e:  # network, missing repo/file, auth: all end here with the id in the message
            raise RuntimeError(f"cannot fetch {name} of '{HF_PREFIX}{repo}' (revision {revision or 'main'}): "
                               f'{type(e).__name__}: {e}') from e
    return paths[0], paths[1]
