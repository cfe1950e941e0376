#!/usr/bin/env bash
# The GPU check in one command (bench/gpu_check.py): prints ONE JSON object, exits 0 when it
# ran or skipped (no CUDA device). From the repository root:  bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f scripts/env.sh ]; then
  # shellcheck disable=SC1091
  source scripts/env.sh
fi
exec timeout 300 python bench/gpu_check.py
