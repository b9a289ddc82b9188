#!/usr/bin/env bash
# bench.sh PRS [EXPORT_SCRIPT] — `prs bench onnx` on ResNet-50 fp32 on an NVIDIA GPU host, as is:
# every setting of issue 13 in one run, on ImageNet-sized JPEG files (500x375, shorter side to
# 256, centre crop 224), each run printing raw, pipeline, their ratio and the decode rate.
#
#   PRS            a prs binary built elsewhere for x86-64 (CGO_ENABLED=1), or the same
#                  compressed with xz (a name ending in .xz)
#   EXPORT_SCRIPT  export_resnet50.py (torch + torchvision), which writes ResNet-50 as ONNX;
#                  default: export_resnet50.py beside this script, then shared/gpu/ under the
#                  working folder. Not needed when the model exists already or PRS_BENCH_MODEL is set.
#
# Expects ONNX Runtime with its CUDA provider unpacked in $ORT_DIR (default /tmp/ort) by the
# unbundle steps of shared/gpu/README.md, CUDA 13 in /usr/local/cuda-13.0 and cuDNN 9 on the
# system path. libjpeg-turbo: $PRS_TURBOJPEG_LIB, else libturbojpeg.so.0 beside PRS (carry
# Debian's /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0 there), else the host's; without it the
# handler decodes with Go's image/jpeg and the reports say so. Prints the card, each run's
# report and a summary table; with $OUT set, also writes $OUT/bench-summary.txt,
# $OUT/bench-NN-NAME.txt and .json per run, and $OUT/bench-stderr.txt (progress and errors).
# See deploy/gpu/README.md.
#
# The runs (PRS_BENCH_RUNS, a regular expression over their names, picks some):
#   b64-default b256-default   model_batch_size 64 and 256, ONNX Runtime's CUDA defaults
#   b256-jpeg-std              Go's image/jpeg instead of libjpeg-turbo (compare the decode rate)
#   b256-nhwc                  onnx.cuda.prefer_nhwc
#   b256-heuristic             onnx.cuda.cudnn_conv_algo_search HEURISTIC
#   b256-arena                 onnx.cuda.arena_extend_strategy kSameAsRequested, gpu_mem_limit 32GB
#   b256-iobinding             onnx.io_binding
#   b64-all b256-all           prefer_nhwc, HEURISTIC and io_binding together
# With PRS_BENCH_PROVIDER=cpu the runs with CUDA options are left out.
#
# Settings from the environment (defaults in brackets):
#   ORT_DIR [/tmp/ort]   PRS_ORT_LIB [$ORT_DIR/libonnxruntime.so.1]
#   PRS_BENCH_MODEL      an .onnx file to use instead of exporting ResNet-50 (the tiny model of
#                        make_tiny_model.py, say, with PRS_BENCH_PROVIDER=cpu on a machine without a GPU)
#   PRS_BENCH_PROVIDER [cuda]  PRS_BENCH_IMAGES [4096]  PRS_BENCH_MINI_BATCH [512]
#   PRS_BENCH_IMAGE_SIZE [500x375]  PRS_BENCH_RESIZE_TO [256]  (the model takes 224x224)
#   PRS_BENCH_SIZE [224]  PRS_BENCH_SLOTS [1]  PRS_BENCH_DEVICE_IDS [0]
#   PRS_BENCH_RUNS [.]   which runs (a grep -E pattern over the names above)
#   PRS_BENCH_ARGS       more flags for every prs bench onnx
#   PRS_BENCH_TIMEOUT [150]  seconds one run may take before it is stopped
#   PRS_BENCH_BUDGET [420]   seconds for all runs: the runs left when it is spent are skipped
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
mini_batch=${PRS_BENCH_MINI_BATCH:-512}
image_size=${PRS_BENCH_IMAGE_SIZE:-500x375}
resize_to=${PRS_BENCH_RESIZE_TO:-256}
size=${PRS_BENCH_SIZE:-224}
slots=${PRS_BENCH_SLOTS:-1}
device_ids=${PRS_BENCH_DEVICE_IDS:-0}
limit=${PRS_BENCH_TIMEOUT:-150}
budget=${PRS_BENCH_BUDGET:-420}
pick=${PRS_BENCH_RUNS:-.}
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

# libjpeg-turbo.
if [ -z "${PRS_TURBOJPEG_LIB:-}" ]; then
  for c in "$(dirname "$1")/libturbojpeg.so.0" "$here/libturbojpeg.so.0"; do
    if [ -f "$c" ]; then export PRS_TURBOJPEG_LIB=$(cd "$(dirname "$c")" && pwd)/libturbojpeg.so.0; break; fi
  done
fi
say "libjpeg-turbo: ${PRS_TURBOJPEG_LIB:-libturbojpeg.so.0 on the library path, if the host has it}"

# The runs: name, then flags.
runs=(
  "b64-default      --model-batch-size 64"
  "b256-default     --model-batch-size 256"
  "b256-jpeg-std    --model-batch-size 256 --jpeg-decoder std"
  "b256-nhwc        --model-batch-size 256 --cuda-prefer-nhwc true"
  "b256-heuristic   --model-batch-size 256 --cuda-cudnn-conv-algo-search HEURISTIC"
  "b256-arena       --model-batch-size 256 --cuda-arena-extend-strategy kSameAsRequested --cuda-gpu-mem-limit 32GB"
  "b256-iobinding   --model-batch-size 256 --io-binding"
  "b64-all          --model-batch-size 64 --cuda-prefer-nhwc true --cuda-cudnn-conv-algo-search HEURISTIC --io-binding"
  "b256-all         --model-batch-size 256 --cuda-prefer-nhwc true --cuda-cudnn-conv-algo-search HEURISTIC --io-binding"
)
results=$tmp/results
mkdir -p "$results"
: > "$tmp/stderr.txt"
start=$SECONDS
failed=0
n=0
for r in "${runs[@]}"; do
  name=${r%% *}
  flags=${r#"$name"}
  echo "$name" | grep -Eq -- "$pick" || continue
  n=$((n + 1))
  id=$(printf '%02d-%s' "$n" "$name")
  if [ "$provider" != cuda ] && [[ $flags == *--cuda-* ]]; then
    say "$id: skipped (CUDA options, provider $provider)"
    echo "skipped: CUDA options on provider $provider" > "$results/$id.skipped"
    continue
  fi
  left=$((budget - (SECONDS - start)))
  if [ "$left" -lt 20 ]; then
    say "$id: skipped (PRS_BENCH_BUDGET of ${budget}s spent)"
    echo "skipped: PRS_BENCH_BUDGET spent" > "$results/$id.skipped"
    continue
  fi
  run_limit=$(( left < limit ? left : limit ))
  say "$id: prs bench onnx$flags ($images images $image_size, resize $resize_to, crop $size, $provider, at most ${run_limit}s)"
  status=0
  # shellcheck disable=SC2086 # flags are words
  timeout --signal=INT --kill-after=20 "$run_limit" "$prs" bench onnx --model "$model" \
    --execution-provider "$provider" --device-ids "$device_ids" \
    --mini-batch-size "$mini_batch" --slots "$slots" --images "$images" \
    --image-size "$image_size" --resize-to "$resize_to" --size "$size" \
    --json "$results/$id.json" $flags ${PRS_BENCH_ARGS:-} > "$results/$id.txt" 2> "$tmp/run-stderr.txt" || status=$?
  { echo "== $id"; cat "$tmp/run-stderr.txt"; } >> "$tmp/stderr.txt"
  cat "$tmp/run-stderr.txt" >&2
  echo "== $id:$flags"
  cat "$results/$id.txt"
  case $status in
    0) ;;
    124|130|137) say "$id: did not finish in ${run_limit}s"; echo "stopped after ${run_limit}s" > "$results/$id.failed"; failed=$((failed + 1)) ;;
    *) say "$id: failed (exit $status); its error is above"; tail -n 3 "$tmp/run-stderr.txt" > "$results/$id.failed"; failed=$((failed + 1)) ;;
  esac
done

# The summary.
summary=$tmp/summary.txt
{
  echo "card: $card"
  echo "images: $images JPEG $image_size, shorter side to $resize_to, centre crop ${size}x$size; mini_batch_size $mini_batch, slots $slots, provider $provider"
  if command -v python3 >/dev/null; then
    python3 - "$results" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
print("%-16s %5s %10s %10s %7s %7s %11s  %s" % ("run", "batch", "raw img/s", "pipe img/s", "ratio", "steady", "decode/s", "JPEG decoder"))
for f in sorted(glob.glob(os.path.join(d, "*"))):
    base, ext = os.path.splitext(os.path.basename(f))
    name = base.split("-", 1)[1]
    if ext == ".json":
        r = json.load(open(f))
        print("%-16s %5d %10.1f %10.1f %7.3f %7.3f %11.1f  %s" % (name, r["model_batch_size"], r["raw"]["images_per_second"],
              r["pipeline"]["images_per_second"], r["ratio"], r["steady_ratio"], r["decode"]["images_per_second"], r["jpeg_decoder"]))
    elif ext in (".skipped", ".failed") and not os.path.exists(os.path.join(d, base + ".json")):
        print("%-16s %s" % (name, open(f).read().strip()))
PY
  else
    echo "(no python3: the summary table is left out; the reports above have the figures)"
  fi
} > "$summary"
echo
cat "$summary"
if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cat "$summary" > "$OUT/bench-summary.txt"
  cat "$tmp/stderr.txt" > "$OUT/bench-stderr.txt"
  for f in "$results"/*.txt "$results"/*.json; do
    [ -f "$f" ] && cat "$f" > "$OUT/bench-$(basename "$f")"
  done
  say "wrote bench-summary.txt, bench-stderr.txt and each run's report in $OUT"
fi
[ "$failed" -eq 0 ] || die "$failed run(s) failed or were stopped (see above)"
