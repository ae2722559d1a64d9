#!/usr/bin/env bash
# Regenerate the AdapterHub golden fixtures under tests/golden/adapterhub/.
#
# Usage (from anywhere):
#     bash tests/golden/make_adapterhub_goldens.sh
#
# The `adapters` library (AdapterHub) 1.3.0 pins transformers~=4.57.6 and cannot be installed
# next to the project's transformers 5, so this script keeps it in its own venv:
#     tests/golden/.venv-adapters   (gitignored; reused when present)
# `make adapters-venv` builds it from tests/golden/requirements-adapters-lock.txt (torch's CPU
# build, adapters==1.3.0, transformers 4.57.x, all hashed); then this script runs
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

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
    # The venv comes from its hashed lock (requirements-adapters-lock.txt: torch's CPU build,
    # adapters 1.3.0 and the transformers 4.57 it brings), as `make test` builds it.
    make -C "$HERE/../.." --no-print-directory adapters-venv PYTHON="$PY"
fi

export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONHASHSEED=0
"$VENV/bin/python" "$HERE/make_adapterhub_goldens.py" "$@"
