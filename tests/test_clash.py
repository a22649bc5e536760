"""The import-time guard against MMSegmentation installed next to us (both ship a package called `mmseg`)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmseg._clash import PackageClashError, check_no_clash, find_their_metadata

REPO = Path(__file__).resolve().parents[1]


def _import_mmseg(extra_path: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), extra_path]))
    return subprocess.run([sys.executable, '-c', 'import mmseg'], env=env, cwd=str(cwd), capture_output=True,
                          text=True, timeout=60)


def test_import_fails_with_fake_installed_mmsegmentation(tmp_path):
    site = tmp_path / 'site'
    (site / 'mmsegmentation-1.2.2.dist-info').mkdir(parents=True)
    (site / 'mmsegmentation-1.2.2.dist-info' / 'METADATA').write_text('Name: mmsegmentation\nVersion: 1.2.2\n')
    proc = _import_mmseg(str(site), tmp_path)
    assert proc.returncode != 0
    assert 'PackageClashError' in proc.stderr
    assert 'mmsegmentation' in proc.stderr and 'segnext' in proc.stderr
    assert 'pip uninstall -y mmsegmentation && pip install -e .' in proc.stderr
    assert 'mmsegmentation-1.2.2.dist-info' in proc.stderr


def test_import_succeeds_without_it(tmp_path):
    (tmp_path / 'site').mkdir()
    proc = _import_mmseg(str(tmp_path / 'site'), tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize('name', ['mmsegmentation-0.24.1-py3.9.egg-info', 'mmsegmentation.egg-link',
                                  '__editable___mmsegmentation_1_2_2_finder.py', 'MMSegmentation-1.2.2.dist-info'])
def test_metadata_spellings(tmp_path, name):
    (tmp_path / name).mkdir()
    assert find_their_metadata([str(tmp_path / 'missing'), str(tmp_path)]) == str(tmp_path / name)


def test_unrelated_names_do_not_trigger(tmp_path):
    for name in ('mmsegmentation_tools-0.1.dist-info', 'segnext-1.0.0.dist-info', 'mmcv-2.1.0.dist-info'):
        (tmp_path / name).mkdir()
    assert find_their_metadata([str(tmp_path)]) is None


def test_package_with_their_files_written_over_ours(tmp_path):
    pkg = tmp_path / 'mmseg'
    shutil.copytree(REPO / 'mmseg', pkg, ignore=shutil.ignore_patterns('__pycache__'))
    check_no_clash(str(pkg), [])  # our own tree is clean
    (pkg / 'structures').mkdir()  # what MMSegmentation 1.x's wheel adds
    (pkg / 'structures' / '__init__.py').write_text('')
    with pytest.raises(PackageClashError, match=r"mix of this project's \(segnext\) and MMSegmentation's"):
        check_no_clash(str(pkg), [])
    # and the real import of such a tree says the same
    proc = subprocess.run([sys.executable, '-c', 'import mmseg'], cwd=str(tmp_path), capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path)), timeout=60)
    assert 'PackageClashError' in proc.stderr and 'structures' in proc.stderr


@pytest.mark.skipif(not (REPO / '.ref_venv' / 'bin' / 'python').exists(), reason='no reference venv here')
def test_reference_venv_can_never_run_our_package(tmp_path):
    """The benchmark reference venv holds MMSegmentation: our package refuses to run there, so a worker that
    picked up our `mmseg` by mistake fails loudly instead of comparing us with ourselves."""
    code = f'import sys; sys.path.insert(0, {str(REPO)!r}); import mmseg'
    proc = subprocess.run([str(REPO / '.ref_venv' / 'bin' / 'python'), '-I', '-c', code], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and 'PackageClashError' in proc.stderr
