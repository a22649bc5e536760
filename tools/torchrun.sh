#!/usr/bin/env bash
# Shared launcher of dist_train.sh / dist_test.sh: tools/torchrun.sh SCRIPT.py NPROC [script args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT (defaults 1, 0, 127.0.0.1, 29500) on every node.
SCRIPT=$1
NPROC=$2
TOOLS="$(dirname "$0")"

usage() {
    case "$SCRIPT" in
        test.py) echo "usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options, e.g. --eval mIoU]" ;;
        train.py) echo "usage: tools/dist_train.sh CONFIG GPUS [train.py options]" ;;
        *) echo "usage: tools/torchrun.sh SCRIPT.py NPROC [script options]" ;;
    esac
    echo "GPUS: processes on this node. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT on every node."
}

# --help anywhere (or a missing/invalid process count) prints usage instead of a torchrun traceback.
for arg in "${@:2}"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        usage
        if [ -f "$TOOLS/$SCRIPT" ]; then
            echo
            PYTHONPATH="$TOOLS/..":$PYTHONPATH "${PYTHON:-python}" "$TOOLS/$SCRIPT" --help
        fi
        exit 0
    fi
done
if ! [[ "$NPROC" =~ ^[1-9][0-9]*$ ]]; then
    usage >&2
    echo "error: GPUS must be a positive integer, got '${NPROC}'" >&2
    exit 2
fi

PYTHONPATH="$TOOLS/..":$PYTHONPATH \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$TOOLS/$SCRIPT" --launcher pytorch "${@:3}"
