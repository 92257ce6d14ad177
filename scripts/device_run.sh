#!/usr/bin/env bash
# The one prepared run on a lent GPU machine (the device tool; README "Measured" and "MuFun-Tiny"
# say what came of it). Python packages the machine lacks travel as wheels in .whl/ (not in git).
#   1. scripts/bench.py --full-size: the real 8B architecture, random weights, bf16 / int8 / nf4
#   2. exploring MuFun-Tiny's recipe faster than the 2-core CPU can: two trainings side by side on
#      the GPU (two hit families held out; all families), each evaluated on fresh clips.
#      The shipped weights are trained on the CPU; these runs only measure the recipe.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site || exit 1
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)" >> "$OUT/gpu.txt" 2>&1
[ -n "${SKIP_BENCH:-}" ] || timeout 210 python3 scripts/bench.py --full-size --repeats 3 > "$OUT/bench_full.txt" 2>&1
HOLD=hihat_open,pluck
for run in heldout all; do
  ( extra=(); [ $run = heldout ] && extra=(--hold-out-hits $HOLD)
    timeout 240 python3 -m mufun.tiny.train --device cuda --workers 7 --out /tmp/$run "${extra[@]}" > "$OUT/train_$run.log" 2>&1
    hits=(--per-hit 6); [ $run = heldout ] && hits=(--per-hit 20 --hits $HOLD)
    timeout 90 python3 -m mufun.tiny.eval --model /tmp/$run --per-kind 40 "${hits[@]}" --edges 20 \
      > "$OUT/eval_$run.txt" 2>&1 ) &
done
wait
tail -n 3 "$OUT"/*.log "$OUT"/*.txt
