#!/usr/bin/env bash
# install-python.sh: installs what entry scripts get on a worker, python3
# with pandas, numpy and PIL (Pillow, which image scripts such as
# ParallelRunStep's examples read images with), and libjpeg-turbo's
# TurboJPEG library, which the onnx handler loads to decode JPEG files, from
# the distribution's packages (Debian 12 and Ubuntu 24.04 name them
# alike). The CPU and CUDA images run it, and so do `go tool task pydeps`
# and `cdeps` on CI's Debian machine (with sudo when not root).
# --clean removes the package lists afterwards (for images).
set -euo pipefail

clean=false
if [ "${1:-}" = --clean ]; then
	clean=true
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends python3 python3-pandas python3-numpy python3-pil libturbojpeg0 >/dev/null
/usr/bin/python3 -c 'import numpy, pandas, PIL; print("python3", "numpy", numpy.__version__, "pandas", pandas.__version__, "PIL", PIL.__version__)'
if $clean; then
	$sudo rm -rf /var/lib/apt/lists/*
fi
