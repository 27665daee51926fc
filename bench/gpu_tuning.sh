#!/usr/bin/env bash
# The prepared GPU run for the XL train-step targets (issue 9): one peer run, then the engine
# settings worth comparing, most likely winners first, each with a one-step device profile.
#
# Why a script: device time is short (minutes per session), so the run is fixed in advance and
# every row lands in the JSON as soon as it is measured (a timeout keeps what finished). A
# failing setting (out of memory, cuDNN refusing a shape) is recorded and the others go on.
#
# Needs ~140 GB for the peer's XL step (transformers, AdamW, batch 16): an H200. On an 80 GB
# card the peer row fails and the engine rows still run.
#
# Usage: [PYTHON=python3] bash bench/gpu_tuning.sh [OUT_DIR] [extra train_step.py flags, e.g. --dropout 0]
# About 6-8 minutes on an H200.
set -euo pipefail
out=${1:-out/bench}
shift || true
remat=dots_with_no_batch_dims
"${PYTHON:-python3}" "$(dirname "$0")/train_step.py" --sizes xl:16 --optimizers adamw --steps 5 --warmup 1 \
  --profile-steps 1 --json "$out/xl_tuning.json" \
  --variant "scan:scan=1,remat=$remat" \
  --variant "cudnn:scan=1,remat=${remat}_and_attention,attention=cudnn" \
  --variant "cudnn-noremat:scan=1,attention=cudnn" \
  --variant "unroll2:scan=1,remat=$remat,unroll=2" \
  --variant "no-triton-gemm:scan=1,remat=$remat,xla_flags=--xla_gpu_enable_triton_gemm=false" \
  --variant "unscanned:scan=0,remat=$remat" \
  "$@"
