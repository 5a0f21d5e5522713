#!/usr/bin/env bash
# Train a small CC-FPSE on the built-in synthetic set on the CPU (about 6 minutes on 2 cores), synthesise the
# test split, measure how well the images follow their layouts, and print where the two HTML pages are. A rerun
# starts over (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${NAME:-quickstart}
CHECKPOINTS=${CHECKPOINTS:-./checkpoints}
RESULTS=${RESULTS:-./results}

python -m pip install -q -e .
python -m util.vision   # torch and torchvision must be a pair (one line, and the way out, when they are not)
python train.py --dataset_mode synthetic --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --gpu_ids -1 \
    --ngf 8 --ndf 16 --batchSize 2 --lr 0.001 --lambda_feat 20 --no_vgg_loss \
    --niter 2 --niter_decay 1 --max_dataset_size 400 --display_freq 40 --print_freq 20 --overwrite "$@"
python test.py --dataset_mode synthetic --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --results_dir "$RESULTS" \
    --gpu_ids -1 --how_many 32
python scripts/layout_fidelity.py --dataset_mode synthetic --name "$NAME" --checkpoints_dir "$CHECKPOINTS" \
    --gpu_ids -1 --how_many 64 --batchSize 8
echo "Training page: $CHECKPOINTS/$NAME/web/index.html"
echo "Test page:     $RESULTS/$NAME/test_latest/index.html"
