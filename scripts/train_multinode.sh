#!/usr/bin/env bash
# Train on several machines: run this on every machine with the same MASTER_ADDR (one machine's address that the
# others reach) and its own NODE_RANK (0 .. NNODES-1). torchrun does the rendezvous; nothing else is needed.
#   MASTER_ADDR=node0.example NNODES=2 NODE_RANK=0 bash scripts/train_multinode.sh   # on node0
#   MASTER_ADDR=node0.example NNODES=2 NODE_RANK=1 bash scripts/train_multinode.sh   # on node1
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MASTER_ADDR:?set MASTER_ADDR to the address of the node with NODE_RANK 0}"
: "${NODE_RANK:?set NODE_RANK (0 on the MASTER_ADDR machine)}"
NNODES=${NNODES:-2}
MASTER_PORT=${MASTER_PORT:-29500}
GPUS=${GPUS:-$(python -c 'import torch; print(torch.cuda.device_count())')}
torchrun --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS" \
    --rdzv_backend=c10d --rdzv_endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv_id="${RDZV_ID:-cc_fpse}" \
    train.py --name coco_cc_fpse --netG condconv --netD fpse --lambda_feat 20 --dataset_mode coco \
    --dataroot datasets/coco_stuff --batchSize 1 --niter 100 --niter_decay 100 --use_vae "$@"
