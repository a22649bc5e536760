"""Refuse to run next to MMSegmentation: both distributions install a top-level package called ``mmseg``.

``pip install mmsegmentation`` into our environment writes its ``mmseg/`` over (or in front of) ours, after which
imports fail deep inside on a missing ``mmcv`` and ``pip check`` sees nothing wrong. This check runs when ``mmseg``
is imported; it only lists directories (no ``importlib.metadata``, which costs more than the rest of the import).
"""
import os
import re

OURS = 'segnext'
THEIRS = 'mmsegmentation'
FIX = (f"Run `pip uninstall -y {THEIRS} && pip install -e .` in this checkout (or keep MMSegmentation in a "
       f"separate virtual environment, as benchmarks/reference_env.sh does).")

# Names that exist in MMSegmentation's `mmseg/` (0.x or 1.x) and never in ours: finding one inside our package
# directory means its files were written over ours.
_FOREIGN_ENTRIES = ('.mim', 'ops', 'structures', 'visualization', 'registry', 'evaluation', 'testing')
# `mmsegmentation-1.2.2.dist-info`, `mmsegmentation-0.24.1-py3.9.egg-info`, `mmsegmentation.egg-link`, and the
# editable-install finder `__editable___mmsegmentation_1_2_2_finder.py`.
_THEIR_METADATA = re.compile(r'^(mmsegmentation([-.].*)?\.(dist-info|egg-info|egg-link)|'
                             r'__editable___mmsegmentation_.*)$', re.IGNORECASE)


class PackageClashError(ImportError):
    """MMSegmentation is installed in the environment that imports this package."""


def find_their_metadata(paths) -> 'str | None':
    """The first MMSegmentation metadata entry in the ``paths`` directories (``sys.path``), or None."""
    for path in paths:
        try:
            names = os.listdir(path or '.')
        except OSError:  # zip files, missing entries
            continue
        for name in names:
            if _THEIR_METADATA.match(name):
                return os.path.join(path or '.', name)
    return None


def find_foreign_files(package_dir: str) -> list:
    """Entries of MMSegmentation's package found in our ``mmseg/`` directory."""
    return [os.path.join(package_dir, n) for n in _FOREIGN_ENTRIES if os.path.exists(os.path.join(package_dir, n))]


def check_no_clash(package_dir: str, paths) -> None:
    """Raise :class:`PackageClashError` naming both distributions and the fix when MMSegmentation is present."""
    foreign = find_foreign_files(package_dir)
    if foreign:
        raise PackageClashError(
            f"the `mmseg` package at {package_dir} is a mix of this project's ({OURS}) and MMSegmentation's "
            f"({THEIRS}) files: found {', '.join(foreign)}. {FIX}")
    found = find_their_metadata(paths)
    if found:
        raise PackageClashError(
            f"MMSegmentation ({THEIRS}, metadata {found}) is installed in this environment next to this project "
            f"({OURS}); both provide the `mmseg` package, so one overwrites or shadows the other. {FIX}")
