#!/usr/bin/env bash
# Everything the tests need on a fresh Debian machine: an X server for napari, the CPU
# build of PyTorch (a plain `torch` requirement would pull a multi-GB CUDA build), and
# this package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 \
    libxcb-cursor0 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 \
    libgl1 libegl1 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1 >/dev/null

python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[testing,docs]"
