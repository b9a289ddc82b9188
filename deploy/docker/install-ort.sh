#!/usr/bin/env bash
# install-ort.sh DEST [cpu|cuda]: installs the ONNX Runtime library prs's
# onnx handler loads into DEST.
#
#   cpu   DEST/libonnxruntime.so.1 from the npm package onnxruntime-node@1.29.0
#         (a build with the CUDA provider bridge, which also runs on any CPU)
#   cuda  the same, plus libonnxruntime_providers_cuda.so and
#         libonnxruntime_providers_shared.so of ONNX Runtime 1.29.0 for CUDA 13
#         from the npm package com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
#         (Microsoft's GPU release, repacked; core and provider versions must
#         match exactly)
#
# Needs npm and tar; x86-64 only. The image builds (deploy/docker/*.Dockerfile)
# and `go tool task ort` (lib/, for the tests) both run this script.
set -euo pipefail

dest=${1:?usage: install-ort.sh DEST [cpu|cuda]}
flavor=${2:-cpu}
case "$flavor" in
cpu | cuda) ;;
*)
	echo "install-ort.sh: flavor must be cpu or cuda, got '$flavor'" >&2
	exit 2
	;;
esac

ORT_NPM=onnxruntime-node@1.29.0
ORT_MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
GPU_NPM=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
GPU_DIR=package/Plugins/Linux/x64
GPU_LIBS="libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dest"

# fetch NPM_SPEC: packs the package into $tmp and prints the tarball's path.
fetch() {
	local tgz
	tgz=$(cd "$tmp" && npm pack --silent "$1" | tail -n 1)
	echo "$tmp/$tgz"
}

core=$(fetch "$ORT_NPM")
tar -xzf "$core" -C "$tmp" "$ORT_MEMBER"
cp "$tmp/$ORT_MEMBER" "$dest/libonnxruntime.so.1.tmp"
mv "$dest/libonnxruntime.so.1.tmp" "$dest/libonnxruntime.so.1"

if [ "$flavor" = cuda ]; then
	gpu=$(fetch "$GPU_NPM")
	members=()
	for lib in $GPU_LIBS; do
		members+=("$GPU_DIR/$lib")
	done
	tar -xzf "$gpu" -C "$tmp" "${members[@]}"
	for lib in $GPU_LIBS; do
		cp "$tmp/$GPU_DIR/$lib" "$dest/$lib"
	done
fi

# A truncated download must not pass for a library.
for f in "$dest"/libonnxruntime*.so*; do
	if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" != '177ELF' ]; then
		echo "install-ort.sh: $f is not an ELF library" >&2
		exit 1
	fi
done
ls -l "$dest"
