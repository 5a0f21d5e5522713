#!/usr/bin/env bash
# Synthesise the cityscapes validation images with the released checkpoint (checkpoints/cs_best/200_net_{G,E}.pth).
# The style comes from each real image through the VAE encoder, as in the paper. Extra arguments go to test.py.
set -euo pipefail
cd "$(dirname "$0")/.."
python test.py --preset cityscapes --batchSize 4 --checkpoints_dir checkpoints --which_epoch 200 \
    --name cs_best --dataroot datasets/cityscapes "$@"
