# syntax=docker/dockerfile:1
# The prs worker image for NVIDIA GPUs: CUDA 13 with cuDNN 9, ONNX Runtime
# 1.29.0's core library with the CUDA provider beside it (README "GPUs"),
# python3 with pandas, numpy and PIL, and prs. The host needs an NVIDIA driver
# that supports CUDA 13 (580 was checked) and the NVIDIA container toolkit
# (on Kubernetes, the NVIDIA device plugin). Build from the repository root:
#
#   docker build -f deploy/docker/cuda.Dockerfile -t prs:0.1.0-cuda13 .
#
# Base images are pinned by tag; pin them by digest (FROM image:tag@sha256:...)
# where your registry policy asks for it.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY contracts ./contracts
COPY consumer ./consumer
COPY producer ./producer
COPY internal ./internal
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/prs ./cmd/prs

FROM node:24.11.1-bookworm-slim AS ort
COPY deploy/docker/install-ort.sh /usr/local/bin/
RUN install-ort.sh /opt/ort cuda

FROM nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04
COPY deploy/docker/install-python.sh /usr/local/bin/
RUN install-python.sh --clean && rm /usr/local/bin/install-python.sh \
    && groupadd --system --gid 10001 prs \
    && useradd --system --uid 10001 --gid prs --home-dir /home/prs --create-home --shell /usr/sbin/nologin prs \
    && mkdir -p /work && chown prs:prs /work
COPY --from=build /out/prs /usr/local/bin/prs
COPY --from=ort /opt/ort /opt/ort
ENV PRS_ORT_LIB=/opt/ort/libonnxruntime.so.1 \
    LD_LIBRARY_PATH=/opt/ort:/usr/local/cuda/targets/x86_64-linux/lib
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["prs"]
CMD ["worker", "--work-dir", "/work"]
