#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py options]   (NNODES, NODE_RANK, MASTER_ADDR, PORT: see torchrun.sh)
exec "$(dirname "$0")/torchrun.sh" train.py "$2" "$1" "${@:3}"
