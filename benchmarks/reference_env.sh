#!/usr/bin/env bash
# Create a throw-away venv holding the reference implementation (MMSegmentation 1.2.2's SegNeXt)
# for benchmarks/parity/check_parity.py. It is never a dependency of this project.
#
# Usage: benchmarks/reference_env.sh [VENV_DIR]      (default: .ref_venv, relative to the cwd)
#   PYTHON=python3.11 benchmarks/reference_env.sh    (interpreter used to create the venv)
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu benchmarks/reference_env.sh
#                                                    (CPU-only torch: ~1 GB venv instead of ~6 GB)
#
# mmcv-lite has no compiled ops, but several mmseg 1.2.2 modules import names from `mmcv.ops` at
# module level; we install a stub `mmcv/ops` package exposing those names as placeholders that raise
# when used. SegNeXt (MSCAN + LightHamHead) uses none of them.
set -euo pipefail

VENV_DIR="${1:-.ref_venv}"
PYTHON="${PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Registry packages only: ignore local wheel folders / extra indexes from the global pip config.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL || true

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV_DIR"
fi
PY="$VENV_DIR/bin/python"

"$PY" -m pip install -q --upgrade pip setuptools wheel
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
  "$PY" -m pip install -q torch --index-url "$TORCH_INDEX_URL"
fi
"$PY" -m pip install -q torch numpy
"$PY" -m pip install -q "mmengine==0.10.7" "mmcv-lite==2.1.0"
# --no-deps: mmsegmentation's metadata pulls heavy optional extras; install its import-time needs by hand.
"$PY" -m pip install -q --no-deps "mmsegmentation==1.2.2"
"$PY" -m pip install -q ftfy regex prettytable scipy matplotlib opencv-python-headless packaging \
  addict pyyaml rich termcolor yapf

# Stub for the compiled mmcv.ops that mmcv-lite lacks.
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -rf "$SITE/mmcv/ops"
mkdir -p "$SITE/mmcv/ops"
cp "$HERE/parity/mmcv_ops_stub.py" "$SITE/mmcv/ops/__init__.py"

# Smoke test: the two SegNeXt modules import and build.
"$PY" -I - <<'PY'  # -I: never pick up a local mmseg from the cwd
import mmseg, torch, mmcv, mmengine
from mmseg.models.backbones.mscan import MSCAN
from mmseg.models.decode_heads.ham_head import LightHamHead
print(f"reference env ok: mmseg {mmseg.__version__}, mmcv {mmcv.__version__}, "
      f"mmengine {mmengine.__version__}, torch {torch.__version__}")
PY
