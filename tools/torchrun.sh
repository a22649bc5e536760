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

# torchrun forwards these signals to the ranks (each rank runs in a session of its own, so a signal to this process
# group reaches them only this way); SIGUSR1 is the schedulers' warning before a hard kill (SLURM --signal=USR1@90).
# Without SIGUSR1 in the list torchrun itself dies of it and the ranks never hear of it. (torch >= 2.6 has the flag.)
SIGNAL_ARGS=()
TORCH_RUN_PY=$("${PYTHON:-python}" -c "import importlib.util as u, os; print(os.path.join(os.path.dirname(
    u.find_spec('torch').origin), 'distributed', 'run.py'))" 2>/dev/null)
if grep -q -- '--signals-to-handle' "$TORCH_RUN_PY" 2>/dev/null; then
    SIGNAL_ARGS=(--signals-to-handle="${SIGNALS_TO_HANDLE:-SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1}")
fi
# MAX_RESTARTS=N restarts the ranks after a failure; with tools/train.py --resume they continue from the newest
# checkpoint, or start from iteration 0 when there is none (one fixed command for requeues and restarts)
PYTHONPATH="$TOOLS/..":$PYTHONPATH exec \
"${PYTHON:-python}" -m torch.distributed.run \
    "${SIGNAL_ARGS[@]}" \
    --max-restarts="${MAX_RESTARTS:-0}" \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$TOOLS/$SCRIPT" --launcher pytorch "${@:3}"
