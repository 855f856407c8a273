#!/usr/bin/env bash
# Create .venv (Python 3.11) and install offerloop with its development extras.
# torch is installed first and pinned, so that the packages that depend on it keep that
# build. Set TORCH_INDEX_URL (for example https://download.pytorch.org/whl/cpu) to take
# it from another index, such as PyTorch's CPU wheels instead of PyPI's CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
    echo "==> ${PYTHON} -m venv .venv"
    "${PYTHON}" -m venv .venv
fi
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    echo "==> pip install torch==2.13.0 --index-url ${TORCH_INDEX_URL}"
    .venv/bin/pip install --quiet torch==2.13.0 --index-url "${TORCH_INDEX_URL}"
else
    echo "==> pip install torch==2.13.0"
    .venv/bin/pip install --quiet torch==2.13.0
fi
echo "==> pip install -e '.[dev]'"
.venv/bin/pip install --quiet -e '.[dev]'
echo "==> ready: . .venv/bin/activate"
