#!/usr/bin/env bash
# Train CC-FPSE on COCO-Stuff on one machine with the paper's recipe, on every GPU it has (or the CPU).
# --batchSize is per process: 1 per GPU as in the paper (16 GPUs there). Extra arguments are passed to train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
GPUS=${GPUS:-$(python -c 'import torch; print(torch.cuda.device_count())')}
ARGS=(--name coco_cc_fpse --netG condconv --netD fpse --lambda_feat 20 --dataset_mode coco
      --dataroot datasets/coco_stuff --batchSize 1 --niter 100 --niter_decay 100 --use_vae "$@")
if [ "$GPUS" -gt 1 ]; then
    torchrun --standalone --nproc_per_node="$GPUS" train.py "${ARGS[@]}"
else
    python train.py "${ARGS[@]}"
fi
