#!/usr/bin/env bash
# Throw-away environment holding MMSegmentation 0.24.1's source for benchmarks/parity/check_losses.py: a venv with
# torch and numpy only (no mmcv: the check stubs the few mmcv 1.x names the loss modules import) and the 0.24.1
# wheel unpacked next to it. Never a dependency of this project.
#
# Usage: benchmarks/parity/mmseg0241_env.sh [DIR]     (default /work/envs/mmseg0241)
#   then: python benchmarks/parity/check_losses.py --ref-python DIR/venv/bin/python --ref-src DIR/src
#   TORCH_SPEC='torch==2.13.0' (default) picks the torch of the reference venv.
set -euo pipefail
DIR="${1:-/work/envs/mmseg0241}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
mkdir -p "$DIR"
if [[ ! -x "$DIR/venv/bin/python" ]]; then
  "$PYTHON" -m venv "$DIR/venv"
fi
"$DIR/venv/bin/python" -m pip install -q "$TORCH_SPEC" numpy
if ! ls "$DIR"/mmsegmentation-0.24.1-*.whl >/dev/null 2>&1; then
  "$DIR/venv/bin/python" -m pip download -q --no-deps "mmsegmentation==0.24.1" -d "$DIR"
fi
rm -rf "$DIR/src"
mkdir -p "$DIR/src"
"$DIR/venv/bin/python" -m zipfile -e "$DIR"/mmsegmentation-0.24.1-*.whl "$DIR/src"
"$DIR/venv/bin/python" -I -c "import torch, numpy; print('mmseg 0.24.1 loss env ok: torch', torch.__version__)"
echo "0.24.1 source: $DIR/src/mmseg/models/losses"
