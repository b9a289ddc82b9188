# syntax=docker/dockerfile:1
# The prs worker image for CPUs: the prs binary, python3 with pandas,
# numpy and PIL for entry scripts, and the ONNX Runtime CPU library for the onnx
# handler. Build from the repository root:
#
#   docker build -f deploy/docker/cpu.Dockerfile -t prs:0.1.0-cpu .
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
# cgo: the onnx handler loads ONNX Runtime with dlopen.
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/prs ./cmd/prs

FROM node:24.11.1-bookworm-slim AS ort
COPY deploy/docker/install-ort.sh /usr/local/bin/
RUN install-ort.sh /opt/ort cpu

FROM debian:12.12-slim
COPY deploy/docker/install-python.sh /usr/local/bin/
RUN install-python.sh --clean && rm /usr/local/bin/install-python.sh \
    && groupadd --system --gid 10001 prs \
    && useradd --system --uid 10001 --gid prs --home-dir /home/prs --create-home --shell /usr/sbin/nologin prs \
    && mkdir -p /work && chown prs:prs /work
COPY --from=build /out/prs /usr/local/bin/prs
COPY --from=ort /opt/ort /opt/ort
ENV PRS_ORT_LIB=/opt/ort/libonnxruntime.so.1
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["prs"]
CMD ["worker", "--work-dir", "/work"]
