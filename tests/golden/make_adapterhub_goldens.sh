#!/usr/bin/env bash
# Regenerate the AdapterHub golden fixtures under tests/golden/adapterhub/.
#
# Usage (from anywhere):
#     bash tests/golden/make_adapterhub_goldens.sh
#
# The `adapters` library (AdapterHub) 1.3.0 pins transformers~=4.57.6 and cannot be installed
# next to the project's transformers 5, so this script keeps it in its own venv:
#     tests/golden/.venv-adapters   (gitignored; reused when present)
# It installs torch==2.13.0 FIRST (a local CPU build here; a plain `torch` would pull a
# multi-GB CUDA build), then adapters==1.3.0 (which brings transformers 4.57.x), then runs
# make_adapterhub_goldens.py, which wipes and rewrites tests/golden/adapterhub/.
# No network beyond the package registry is needed: all base models are built from configs.
#
# Environment:
#     PYTHON=python3.11   interpreter used to create the venv (default: python3)
#     SKIP_INSTALL=1      reuse the venv as it is (no pip calls)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv-adapters"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # torch first, pinned, so adapters' dependency resolution does not pick a CUDA build.
    "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
    "$VENV/bin/python" -m pip install --quiet "adapters==1.3.0" "safetensors"
fi

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=0
"$VENV/bin/python" "$HERE/make_adapterhub_goldens.py" "$@"
