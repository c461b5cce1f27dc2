#!/usr/bin/env bash
# Sets up glow_prior on a fresh machine with Python 3.11, pip and apt:
#   * Debian's dataset-fashion-mnist package (the offline Fashion-MNIST source),
#   * a virtual environment .venv with the package and its test extras installed.
# Safe to rerun: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
FASHION_MNIST_DIR=/usr/share/datasets/fashion-mnist

if [ ! -f "$FASHION_MNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null
  }
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
echo "glow_prior is set up in .venv"
