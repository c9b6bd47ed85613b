#!/usr/bin/env bash
# Rebuilds the bundled model from scratch on a CPU: data, training, evaluation, export.
#   bash scripts/train_bundled_model.sh            (about 35 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=data/synthetic2000
RUN=runs/synthetic_bundled
[ -f "$DATA/synthetic/refs(unc).p" ] || lgformer synth --out "$DATA" --images 2000 --seed 0 --quiet
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} lgformer train --config configs/synthetic_bundled.yaml \
    --set data.root="$DATA" --set output.dir="$RUN"
python scripts/export_bundled_model.py "$RUN/best.pt" src/lgformer/weights/synthetic_small.safetensors
mkdir -p benchmarks/results
for split in val testA testB; do
    lgformer evaluate --checkpoint src/lgformer/weights/synthetic_small.safetensors \
        --data-root "$DATA" --dataset synthetic --split-by unc --split "$split" \
        --image-size 96 --batch-size 16 --num-workers 0 --no-progress \
        --output "benchmarks/results/synthetic_bundled_$split.json"
done
