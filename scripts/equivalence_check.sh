#!/usr/bin/env bash
# Trains two fixed-seed runs and prints the SHA-256 of their weights and their validation
# figures, so that a refactor of the training engine can be shown to change nothing:
#   tiny:     the CI-sized learning run of tests/test_learning.py (test_tiny, 6 scenes at
#             64 px, 240 steps), evaluated on its own training split;
#   bundled:  the synthetic_bundled config on 400 scenes, 120 warm-start steps + 80
#             referring steps (max_steps=200), one process, evaluated on val.
#
#   PYTHONPATH=<checkout>/src bash <checkout>/scripts/equivalence_check.sh OUT_DIR
#   (~7 min on 2 busy cores; PYTHONPATH picks the code, the config comes from the checkout)
set -euo pipefail
OUT=${1:?usage: equivalence_check.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 GOMP_SPINCOUNT=1000
lgf() { python -m lgformer.cli "$@"; }
# The loss options moved from optim.* / init.gate_std into the objective section.
if python -c "from lgformer.engine.config import ObjectiveConfig" 2> /dev/null; then
    DICE=objective.dice_weight GATE=objective.gate_std WARMUP=objective.category_warmup_steps
else
    DICE=optim.dice_weight GATE=init.gate_std WARMUP=optim.category_warmup_steps
fi
weights_sha() {  # the model tensors of a training checkpoint, in key order, as raw bytes
    python - "$1" <<'PY'
import hashlib, sys, torch
state = torch.load(sys.argv[1], map_location="cpu", weights_only=False)["model"]
h = hashlib.sha256()
for key in sorted(state):
    h.update(key.encode()); h.update(state[key].detach().contiguous().cpu().numpy().tobytes())
print(h.hexdigest())
PY
}
metric() { python -c "import json,sys; m=json.load(open(sys.argv[1]))['metrics']; print(f\"oIoU {m['overall_iou']:.4f} mIoU {m['mean_iou']:.4f}\")" "$1"; }

[ -d "$OUT/tiny_data/synthetic" ] || lgf synth --out "$OUT/tiny_data" --images 6 --seed 0 --image-size 64 --quiet
lgf train --no-resume \
    --set data.root="$OUT/tiny_data" --set data.dataset=synthetic --set data.image_size=64 \
    --set data.num_workers=0 --set model.preset=test_tiny --set optim.epochs=60 \
    --set optim.batch_size=4 --set optim.lr=2e-3 --set optim.grad_clip=1.0 \
    --set $DICE=1.0 --set optim.precision=fp32 --set optim.fused=true \
    --set $GATE=0.02 --set validate=false --set device=cpu \
    --set output.dir="$OUT/tiny_run" --set output.tensorboard=false \
    --set output.progress=false --set output.log_every=1000 > "$OUT/tiny_train.log" 2>&1
lgf evaluate --checkpoint "$OUT/tiny_run/last.pt" --data-root "$OUT/tiny_data" \
    --dataset synthetic --split train --image-size 64 --batch-size 16 --num-workers 0 \
    --no-progress --output "$OUT/tiny_eval.json" > /dev/null

[ -d "$OUT/bundled_data/synthetic" ] || lgf synth --out "$OUT/bundled_data" --images 400 --seed 0 --quiet
# The shipped config: inside the package since the configs ship with it, at configs/ before.
BUNDLED=$HERE/src/lgformer/configs/synthetic_bundled.yaml
[ -f "$BUNDLED" ] || BUNDLED=$HERE/configs/synthetic_bundled.yaml
lgf train --config "$BUNDLED" --no-resume \
    --set data.root="$OUT/bundled_data" --set output.dir="$OUT/bundled_run" \
    --set $WARMUP=120 --set max_steps=200 > "$OUT/bundled_train.log" 2>&1
lgf evaluate --checkpoint "$OUT/bundled_run/last.pt" --data-root "$OUT/bundled_data" \
    --dataset synthetic --split val --image-size 128 --batch-size 32 --num-workers 0 \
    --no-progress --output "$OUT/bundled_eval.json" > /dev/null

echo "tiny    weights $(weights_sha "$OUT/tiny_run/last.pt")  train $(metric "$OUT/tiny_eval.json")"
echo "bundled weights $(weights_sha "$OUT/bundled_run/last.pt")  val   $(metric "$OUT/bundled_eval.json")"
grep -h "val" "$OUT/bundled_train.log" | grep -i iou | tail -3 || true
