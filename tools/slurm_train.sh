#!/usr/bin/env bash
# Usage: [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
# Preemptible / time-limited partitions: SRUN_ARGS="--signal=USR1@90" tools/slurm_train.sh P J CONFIG --resume
#   --requeue-on-signal   (SIGUSR1 90 s before the end: the running iteration is saved, the job requeued, and the
#   requeued job reruns the same command, which continues from the newest checkpoint; submit with sbatch --requeue)
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/train.py" "${CONFIG}" --launcher slurm "${@:4}"
