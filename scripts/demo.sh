#!/usr/bin/env bash
# `make demo`: node + camera publisher + recorder as separate processes on localhost-only DDS,
# init_target on the bundled clip, results in $DEMO_OUT (default demo_out/). The caller's
# ROS_DOMAIN_ID is kept (env.sh picks a random one when unset). Never hangs: the driver has
# its own timeouts and `timeout` below is the last resort.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
exec timeout --kill-after=15 600 python -m stmtrack_ros.tools.demo "$@"
