#!/usr/bin/env bash
# bench.sh PRS [EXPORT_SCRIPT] — `prs bench onnx` on ResNet-50 fp32 on an NVIDIA GPU host, as is.
#
#   PRS            a prs binary built elsewhere for x86-64 (CGO_ENABLED=1), or the same
#                  compressed with xz (a name ending in .xz)
#   EXPORT_SCRIPT  export_resnet50.py (torch + torchvision), which writes ResNet-50 as ONNX;
#                  default: export_resnet50.py beside this script, then shared/gpu/ under the
#                  working folder. Not needed when the model exists already or PRS_BENCH_MODEL is set.
#
# Expects ONNX Runtime with its CUDA provider unpacked in $ORT_DIR (default /tmp/ort) by the
# unbundle steps of shared/gpu/README.md, CUDA 13 in /usr/local/cuda-13.0 and cuDNN 9 on the
# system path. Prints the card's name and the report; with $OUT set, also writes
# $OUT/bench-report.txt, $OUT/bench.json and $OUT/bench-stderr.txt (progress and errors).
# See deploy/gpu/README.md.
#
# Settings from the environment (defaults in brackets):
#   ORT_DIR [/tmp/ort]   PRS_ORT_LIB [$ORT_DIR/libonnxruntime.so.1]
#   PRS_BENCH_MODEL      an .onnx file to use instead of exporting ResNet-50 (the tiny model of
#                        make_tiny_model.py, say, with PRS_BENCH_PROVIDER=cpu on a machine without a GPU)
#   PRS_BENCH_PROVIDER [cuda]  PRS_BENCH_IMAGES [4096]  PRS_BENCH_MODEL_BATCH [64]
#   PRS_BENCH_MINI_BATCH [256]  PRS_BENCH_SLOTS [1]  PRS_BENCH_DEVICE_IDS [0]
#   PRS_BENCH_ARGS       more flags for prs bench onnx
#   PRS_BENCH_TIMEOUT [240]  seconds the benchmark may take before it is stopped
#   RESNET_ONNX [/tmp/resnet50.onnx]  where the exported model goes (kept: a rerun reuses it)
set -euo pipefail

die() { echo "bench.sh: error: $*" >&2; exit 1; }
say() { echo "bench.sh: $*" >&2; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: bench.sh PRS [EXPORT_SCRIPT]  (see the comment at the top of $0)"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prs=$1
export_script=${2:-}

ort_dir=${ORT_DIR:-/tmp/ort}
provider=${PRS_BENCH_PROVIDER:-cuda}
images=${PRS_BENCH_IMAGES:-4096}
model_batch=${PRS_BENCH_MODEL_BATCH:-64}
mini_batch=${PRS_BENCH_MINI_BATCH:-256}
slots=${PRS_BENCH_SLOTS:-1}
device_ids=${PRS_BENCH_DEVICE_IDS:-0}
limit=${PRS_BENCH_TIMEOUT:-240}
resnet=${RESNET_ONNX:-/tmp/resnet50.onnx}

# The prs binary.
[ -f "$prs" ] || die "no prs binary at $prs (build it with CGO_ENABLED=1 go build -o prs ./cmd/prs, see deploy/gpu/README.md)"
case "$prs" in
  *.xz)
    command -v xz >/dev/null || die "$prs is compressed with xz, and xz is not installed here"
    bin=$tmp/prs
    xz -dc "$prs" > "$bin" || die "cannot unpack $prs"
    chmod +x "$bin"
    prs=$bin ;;
  *) [ -x "$prs" ] || die "$prs is not executable (chmod +x it)" ;;
esac
[ "$(uname -m)" = x86_64 ] || say "warning: this host is $(uname -m); the prs binary must be built for it"

# ONNX Runtime.
export PRS_ORT_LIB=${PRS_ORT_LIB:-$ort_dir/libonnxruntime.so.1}
[ -f "$PRS_ORT_LIB" ] || die "no ONNX Runtime library at $PRS_ORT_LIB: unpack the bundle first (bash /tmp/ort-parts/unbundle.sh finish $ort_dir, see shared/gpu/README.md) or set ORT_DIR or PRS_ORT_LIB"
cuda_lib=/usr/local/cuda-13.0/targets/x86_64-linux/lib
export LD_LIBRARY_PATH="$ort_dir:$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "$provider" = cuda ]; then
  for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
    [ -f "$ort_dir/$f" ] || die "no $f in $ort_dir: the CUDA provider comes with the bundle (shared/gpu/README.md)"
  done
  [ -d "$cuda_lib" ] || die "no CUDA 13 libraries in $cuda_lib"
  command -v nvidia-smi >/dev/null || die "nvidia-smi not found: is this a GPU host?"
fi

# The card.
if command -v nvidia-smi >/dev/null; then
  card=$(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader) || die "nvidia-smi failed: no usable GPU"
else
  card="none (no nvidia-smi)"
fi
say "card: $card"

# The model.
model=${PRS_BENCH_MODEL:-}
if [ -n "$model" ]; then
  [ -f "$model" ] || die "PRS_BENCH_MODEL=$model does not exist"
else
  model=$resnet
  if [ -s "$model" ]; then
    say "reusing $model"
  else
    if [ -z "$export_script" ]; then
      for c in "$here/export_resnet50.py" "$PWD/shared/gpu/export_resnet50.py"; do
        if [ -f "$c" ]; then export_script=$c; break; fi
      done
    fi
    [ -n "$export_script" ] && [ -f "$export_script" ] ||
      die "no export_resnet50.py: give its path as the second argument (it is shared/gpu/export_resnet50.py; carry a copy in an ignored folder), or set PRS_BENCH_MODEL"
    say "exporting ResNet-50 with $export_script to $model"
    PYTHONUNBUFFERED=1 python3 "$export_script" "$model.part" || die "the export failed (torch and torchvision are needed)"
    mv "$model.part" "$model"
  fi
fi

# The benchmark.
report=$tmp/report.txt
json=$tmp/bench.json
say "prs bench onnx: $images images, model_batch_size $model_batch, $provider, at most ${limit}s"
status=0
timeout --signal=INT --kill-after=20 "$limit" "$prs" bench onnx --model "$model" \
  --execution-provider "$provider" --device-ids "$device_ids" \
  --model-batch-size "$model_batch" --mini-batch-size "$mini_batch" --slots "$slots" \
  --images "$images" --json "$json" ${PRS_BENCH_ARGS:-} > "$report" 2> "$tmp/stderr.txt" || status=$?
cat "$tmp/stderr.txt" >&2
{ echo "card: $card"; cat "$report"; } > "$report.full"
mv "$report.full" "$report"
cat "$report"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cat "$report" > "$OUT/bench-report.txt"
  cat "$tmp/stderr.txt" > "$OUT/bench-stderr.txt"
  if [ -s "$json" ]; then cat "$json" > "$OUT/bench.json"; fi
  say "wrote $(cd "$OUT" && ls bench-* bench.json 2>/dev/null | tr '\n' ' ')in $OUT"
fi
case $status in
  0) ;;
  124|130|137) die "prs bench onnx did not finish in ${limit}s (PRS_BENCH_TIMEOUT)" ;;
  *) die "prs bench onnx failed (exit $status); its error is above" ;;
esac
