#!/usr/bin/env bash
# The ten-minute GPU check (benchmarks/gpu_check.py), from a fresh machine with only Python:
# install dqlabels with the CUDA extra into .venv when needed, then run it. No network is
# needed once the packages are there. Extra arguments go to gpu_check.py (--out, --budget,
# --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv && .venv/bin/pip install -q -e ".[cuda]"
    # The JAX backend's line (skipped, and said so, when JAX with CUDA cannot be installed).
    .venv/bin/pip install -q -e ".[jax]" "jax[cuda12]" \
        || echo "gpu_check: JAX with CUDA is not installed; its throughput line is skipped"
fi
exec .venv/bin/python benchmarks/gpu_check.py "$@"
