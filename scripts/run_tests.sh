#!/usr/bin/env bash
# Runs the whole test suite inside the project environment, DDS on localhost only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Each run gets its own domain; tests that start nodes derive theirs from it.
export ROS_DOMAIN_ID=$(( ($$ % 80) + 10 ))
echo "[test] ROS_DOMAIN_ID=$ROS_DOMAIN_ID FASTDDS_DEFAULT_PROFILES_FILE=$FASTDDS_DEFAULT_PROFILES_FILE"
exec python -m pytest test "$@"
