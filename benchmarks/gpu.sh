#!/usr/bin/env bash
# GPU speed and memory of the released LGFormer preset at 480x480, on one GPU.
#
#   bash benchmarks/gpu.sh                  # under 8 minutes on one H100/H200
#   bash benchmarks/gpu.sh --budget-s 200   # fewer figures, sooner
#   bash benchmarks/gpu.sh --device cpu --tiny --compile-backend eager   # dry run
#
# Runs this checkout's code (src/ goes first on PYTHONPATH) with $PYTHON (default
# python3). Options pass through to benchmarks/bench_gpu.py, whose docstring lists
# what is printed. Measurements that would start after --budget-s (400 s by default)
# print as skipped, so the script ends in time whatever the compile times are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="$here/../src:$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" "$here/bench_gpu.py" "$@"
