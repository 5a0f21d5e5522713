#!/usr/bin/env bash
# Train a small model on the built-in synthetic set on the CPU (minutes on 2 cores), synthesise the test split,
# measure how well the images follow their layouts, and print where the two HTML pages are. A rerun starts over
# (--overwrite).
#   bash scripts/quickstart.sh                  CC-FPSE (about 6 minutes on 2 cores)
#   bash scripts/quickstart.sh --model oasis    OASIS, with small-run settings, then images of four seeds and a
#                                               restyled class (its noise code)
# Other arguments go to train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
METHOD=pix2pix
if [ "${1:-}" = "--model" ] && [ "${2:-}" = "oasis" ]; then
    METHOD=oasis
    shift 2
fi
NAME=${NAME:-quickstart$([ "$METHOD" = oasis ] && echo _oasis || true)}
CHECKPOINTS=${CHECKPOINTS:-./checkpoints}
RESULTS=${RESULTS:-./results}

python -m pip install -q -e .
python -m util.vision   # torch and torchvision must be a pair (one line, and the way out, when they are not)
if [ "$METHOD" = oasis ]; then
    # A small OASIS for a CPU: narrow networks, higher rates than the published ones (for batches of 2 and minutes
    # of training), and an average short enough for 600 steps (0.99: about 100 updates; the published 0.9999 needs
    # about 10,000).
    SETTINGS=(--model oasis --ngf 16 --ndf 16 --lr_g 0.0005 --lr_d 0.002 --ema_decay 0.99 --batchSize 2
              --niter 3 --max_dataset_size 400)
else
    SETTINGS=(--ngf 8 --ndf 16 --batchSize 2 --lr 0.001 --lambda_feat 20 --no_vgg_loss --niter 2 --niter_decay 1
              --max_dataset_size 400)
fi
python train.py --dataset_mode synthetic --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --gpu_ids -1 \
    "${SETTINGS[@]}" --display_freq 40 --print_freq 20 --overwrite "$@"
python test.py --dataset_mode synthetic --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --results_dir "$RESULTS" \
    --gpu_ids -1 --how_many 32
python scripts/layout_fidelity.py --dataset_mode synthetic --name "$NAME" --checkpoints_dir "$CHECKPOINTS" \
    --gpu_ids -1 --how_many 64 --batchSize 8
echo "Training page: $CHECKPOINTS/$NAME/web/index.html"
echo "Test page:     $RESULTS/$NAME/test_latest/index.html"
if [ "$METHOD" = oasis ]; then
    # Four images of each of two test label maps (the noise code's seeds), then the sky alone restyled.
    MAPS="$RESULTS/$NAME/test_latest/images/input_label"
    python scripts/synthesize.py --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --gpu_ids -1 \
        --labels "$MAPS/$(ls "$MAPS" | head -1)" "$MAPS/$(ls "$MAPS" | sed -n 2p)" --seeds 0-3 \
        --out "$RESULTS/$NAME/seeds"
    python scripts/synthesize.py --name "$NAME" --checkpoints_dir "$CHECKPOINTS" --gpu_ids -1 \
        --labels "$MAPS/$(ls "$MAPS" | head -1)" --seeds 1-3 --base_seed 0 --restyle sky \
        --out "$RESULTS/$NAME/restyled_sky"
    echo "Seeds:         $RESULTS/$NAME/seeds/index.html"
    echo "Sky restyled:  $RESULTS/$NAME/restyled_sky/index.html"
fi
