#!/usr/bin/env bash
# One prepared GPU session (issue 19), about 8 minutes on one H200, three guarded parts:
#   a. XL training, batch 16, 512 -> 256, AdamW: the peer once, then the most informative engine
#      settings of gpu_tuning.sh (scan + remat, the current recipe; cuDNN attention with the policy
#      that saves its outputs; cuDNN without remat; then scan_unroll=2, last since the time limit may
#      cut it), each profiled for one step. Left out: unscanned layers (their compile did not
#      finish within minutes last time) and Triton GEMMs off (a child process, a second start).
#   b. Greedy decoding against Hugging Face `generate`, batch 64, 512 input and 256 new tokens, one
#      timed decode after a warm-up one: base (plus the server's decode program with top-5
#      log-probs), then xl, each its own run so a slow xl cannot cost the base pair.
#   (The HTTP server itself needs gin, which the GPU machine lacks; the server's decode program,
#   `distill.serve.sampler`, is what row b times instead.)
#
# Why one script: device time is short and every start costs minutes, so the run is fixed in
# advance. Each part has its own time limit and its failure is recorded, not fatal; every row
# lands in its JSON as soon as it is measured, so a timeout keeps what finished. Imports only
# jax/flax/optax/numpy (and torch/transformers for the peer): no tensorflow, seqio or gin.
#
# Usage: [PYTHON=python3] bash bench/gpu_session.sh OUT_DIR
# CPU dry run (about 5 minutes on 2 cores):
#   PYTHON=.venv/bin/python TRAIN_SIZE=micro:2 TRAIN_ARGS="--inputs 16 --targets 8 --steps 1" \
#   DECODE_SIZES="micro mini" DECODE_ARGS="--batch 2 --inputs 16 --new-tokens 8" bash bench/gpu_session.sh /tmp/gs
# Limits (seconds, overridable): TRAIN_S=270, DECODE_BASE_S=100, DECODE_XL_S=150.
set -uo pipefail
out=${1:?usage: bash bench/gpu_session.sh OUT_DIR}
mkdir -p "$out"
bench=$(dirname "$0")
python=${PYTHON:-python3}
read -r -a decode_sizes <<<"${DECODE_SIZES:-base xl}"
read -r -a decode_args <<<"${DECODE_ARGS:---batch 64 --inputs 512 --new-tokens 256}"
read -r -a train_args <<<"${TRAIN_ARGS:-}"
status="$out/parts.jsonl"

# part NAME LIMIT_S COMMAND...: runs with a time limit, logs to NAME.log, appends its outcome to parts.jsonl.
part() {
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=15 "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  tail -n 25 "$out/$name.log"
  printf '{"part": "%s", "rc": %d, "timed_out": %s, "wall_s": %d}\n' "$name" "$rc" \
    "$([[ $rc == 124 || $rc == 137 ]] && echo true || echo false)" "$(($(date +%s) - start))" >>"$status"
}

{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$python" -c 'import sys, jax, flax; print(sys.version.split()[0], "jax", jax.__version__, "flax", flax.__version__, jax.devices())'
  "$python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

remat=dots_with_no_batch_dims
part train_xl "${TRAIN_S:-270}" "$python" "$bench/train_step.py" --sizes "${TRAIN_SIZE:-xl:16}" --optimizers adamw \
  --steps 5 --warmup 1 --profile-steps 1 --json "$out/xl_tuning.json" \
  --variant "scan:scan=1,remat=$remat" \
  --variant "cudnn:scan=1,remat=${remat}_and_attention,attention=cudnn" \
  --variant "cudnn-noremat:scan=1,attention=cudnn" \
  --variant "unroll2:scan=1,remat=$remat,unroll=2" \
  "${train_args[@]}"

part "decode_${decode_sizes[0]}" "${DECODE_BASE_S:-100}" "$python" "$bench/decode.py" --sizes "${decode_sizes[0]}" \
  "${decode_args[@]}" --repeats 1 --server-logprobs 5 --json "$out/decode_${decode_sizes[0]}.json"
part "decode_${decode_sizes[1]}" "${DECODE_XL_S:-150}" "$python" "$bench/decode.py" --sizes "${decode_sizes[1]}" \
  "${decode_args[@]}" --repeats 1 --json "$out/decode_${decode_sizes[1]}.json"

echo "== parts"
cat "$status"
