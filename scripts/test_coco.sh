#!/usr/bin/env bash
# Synthesise the coco validation images with the released checkpoint (checkpoints/coco_best/100_net_{G,E}.pth).
# The style comes from each real image through the VAE encoder, as in the paper. Extra arguments go to test.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python test.py --preset coco --batchSize 4 --checkpoints_dir checkpoints --which_epoch 100 \
    --name coco_best --dataroot datasets/coco_stuff "$@"
