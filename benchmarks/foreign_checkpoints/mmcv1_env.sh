#!/usr/bin/env bash
# A throw-away venv with mmcv 1.x (the runner the official SegNeXt fork, MMSegmentation 0.24.1, trains with), used only
# by benchmarks/foreign_checkpoints/make_fixtures.py to write checkpoints exactly as `mmcv.runner.save_checkpoint`
# writes them. Never a dependency of this project.
#
# Usage: benchmarks/foreign_checkpoints/mmcv1_env.sh [VENV_DIR]     (default: /work/envs/mmcv1)
#
# mmcv 1.7.2 ships as an sdist whose setup.py needs an old setuptools (pkg_resources/distutils behaviour) and
# `--no-build-isolation`; MMCV_WITH_OPS=0 builds the pure-Python ("lite") form. mmcv.runner imports torchvision.
set -euo pipefail
VENV_DIR="${1:-/work/envs/mmcv1}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV_DIR"
fi
PY="$VENV_DIR/bin/python"
"$PY" -m pip install -q --upgrade pip "setuptools<70" wheel
# shellcheck disable=SC2086
"$PY" -m pip install -q $TORCH_SPEC numpy
"$PY" -m pip install -q addict packaging pyyaml yapf opencv-python-headless pillow
# torch pulls a new setuptools; mmcv's setup.py needs pkg_resources, which setuptools>=70 dropped from this use
"$PY" -m pip install -q "setuptools<70"
MMCV_WITH_OPS=0 "$PY" -m pip install -q --no-build-isolation "mmcv==1.7.2"
"$PY" -I -c "import mmcv, torch; from mmcv.runner import save_checkpoint; print('mmcv1 env ok: mmcv', mmcv.__version__, 'torch', torch.__version__)"
