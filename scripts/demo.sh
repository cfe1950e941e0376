#!/usr/bin/env bash
# `make demo`: node + camera publisher + recorder as separate processes on localhost-only DDS,
# init_target on the bundled clip, results in demo_out/. Never hangs: the driver has its own
# timeouts and `timeout` below is the last resort.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export ROS_DOMAIN_ID=$(( ($$ % 80) + 10 ))   # our own domain, away from other runs
exec timeout --kill-after=15 600 python -m stmtrack_ros.node.demo "$@"
