#!/usr/bin/env bash
# Create .venv (Python 3.11) and install offerloop with its development extras.
# torch is installed first and pinned, so that pip keeps the CPU build instead of
# resolving a multi-GB CUDA build for the packages that depend on it.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
    echo "==> ${PYTHON} -m venv .venv"
    "${PYTHON}" -m venv .venv
fi
echo "==> pip install torch==2.13.0"
.venv/bin/pip install --quiet torch==2.13.0
echo "==> pip install -e '.[dev]'"
.venv/bin/pip install --quiet -e '.[dev]'
echo "==> ready: . .venv/bin/activate"
