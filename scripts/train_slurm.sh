#!/usr/bin/env bash
# Train on several machines under SLURM: sbatch scripts/train_slurm.sh [train.py options]
# One torchrun per node; they meet at the first node of the allocation. A lost worker or node restarts the group
# (up to --max-restarts), which resumes from `latest`; SIGTERM before a time limit saves `latest` (then
# `sbatch scripts/train_slurm.sh --continue_train` goes on).
#SBATCH --job-name=cc_fpse
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --signal=TERM@120
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
GPUS=${GPUS:-$(python -c 'import torch; print(torch.cuda.device_count())')}
srun torchrun --nnodes="$SLURM_NNODES" --nproc-per-node="$GPUS" --max-restarts="${MAX_RESTARTS:-3}" \
    --rdzv-backend=c10d --rdzv-endpoint="$HEAD:${PORT:-29500}" --rdzv-id="$SLURM_JOB_ID" \
    train.py --name coco_cc_fpse --netG condconv --netD fpse --lambda_feat 20 --dataset_mode coco \
    --dataroot datasets/coco_stuff --batchSize 1 --niter 100 --niter_decay 100 --use_vae "$@"
