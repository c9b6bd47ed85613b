#!/usr/bin/env bash
# Rebuilds the bundled model from scratch on a CPU and measures it, end to end:
#   1. lgformer synth: 3500 synthetic scenes (160 px, seed 0) in the REFER format;
#   2. torchrun -m lgformer.cli train --config synthetic_bundled (2 processes;
#      timed: the 20-minute budget);
#   3. export best.pt -> src/lgformer/weights/synthetic_small.safetensors (fp16, MiniLM left out);
#   4. lgformer evaluate of the exported file on val, testA, testB (JSON);
#   5. the text-blind control (synthetic_text_blind), trained and evaluated on val;
#   6. benchmarks/results/synthetic_summary.json: every figure, times and machine conditions.
#
#   bash scripts/train_bundled_model.sh   (~45 min on 2 cores; SKIP_CONTROL=1 or SKIP_MAIN=1: ~22)
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/synthetic3500}
RUN=${RUN:-runs/synthetic_bundled}
CONTROL=${CONTROL:-runs/synthetic_text_blind}
RESULTS=${RESULTS:-benchmarks/results}
WEIGHTS=src/lgformer/weights/synthetic_small.safetensors
NPROC=${NPROC:-2}  # training processes (optim.batch_size is the total over them)
SIZE=128  # model input side (synthetic_bundled data.image_size)
# Short OpenMP spin-waits: with the default, two busy processes on 2 cores can make each
# training step many times slower; with 1000 spins the cost on an idle machine is nil.
export GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-1000}
mkdir -p "$RESULTS"

[ -f "$DATA/synthetic/refs(unc).p" ] ||
    lgformer synth --out "$DATA" --images 3500 --seed 0 --quiet

train() {  # train CONFIG OUTDIR TAG: a fresh run, its wall time and load averages recorded
    local start load_before load_after
    read -r load_before _ < /proc/loadavg
    start=$(date +%s)
    # Two single-thread processes (gloo DDP) use 2 cores better than one 2-thread process.
    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node "$NPROC" -m lgformer.cli train \
        --config "$1" --no-resume --set data.root="$DATA" --set output.dir="$2"
    read -r load_after _ < /proc/loadavg
    printf '{"train_seconds": %d, "load_avg_1min_before": %s, "load_avg_1min_after": %s}\n' \
        "$(($(date +%s) - start))" "$load_before" "$load_after" > "$RESULTS/synthetic_$3_time.json"
}

evaluate() {  # evaluate CHECKPOINT SPLIT TAG
    lgformer evaluate --checkpoint "$1" --data-root "$DATA" --dataset synthetic --split-by unc \
        --split "$2" --image-size "$SIZE" --batch-size 32 --num-workers 0 --no-progress \
        --output "$RESULTS/synthetic_$3_$2.json"
}

if [ "${SKIP_MAIN:-0}" != 1 ]; then
    train synthetic_bundled "$RUN" bundled
    python scripts/export_bundled_model.py "$RUN/best.pt" "$WEIGHTS" --image-size "$SIZE"
    for split in val testA testB; do
        evaluate "$WEIGHTS" "$split" bundled
    done
fi

if [ "${SKIP_CONTROL:-0}" != 1 ]; then
    train synthetic_text_blind "$CONTROL" text_blind
    evaluate "$CONTROL/best.pt" val text_blind
fi

python - "$RESULTS" <<'PY'
"""Collect the JSON files written above into one summary."""
import json
import os
import platform
import sys
from pathlib import Path

import torch

results = Path(sys.argv[1])
summary = {
    "machine": {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
    }
}
for tag in ("bundled", "text_blind"):
    entry = {}
    timing = results / f"synthetic_{tag}_time.json"
    if timing.is_file():
        entry.update(json.loads(timing.read_text()))
    for split in ("val", "testA", "testB"):
        path = results / f"synthetic_{tag}_{split}.json"
        if path.is_file():
            entry[split] = json.loads(path.read_text())["metrics"]
    if entry:
        summary[tag] = entry
(results / "synthetic_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary, indent=1))
PY
