#!/usr/bin/env bash
# The embedded demo: generate the synthetic dataset, train SegNeXt-T on the CPU, evaluate (per-class table, mIoU)
# and write prediction overlays. Usage: bash tools/run_demo.sh [WORK_DIR] [extra tools/train.py args]
set -euo pipefail
cd "$(dirname "$0")/.."
WORK_DIR=${1:-work_dirs/segnext.tiny.demo}
shift || true
CONFIG=local_configs/segnext/tiny/segnext.tiny.demo.py
python tools/make_demo_dataset.py data/demo
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" --seed 0 "$@"
python tools/test.py "$CONFIG" "$WORK_DIR/latest.pth" --eval mIoU --show-dir "$WORK_DIR/overlays"
echo "overlays written to $WORK_DIR/overlays"
