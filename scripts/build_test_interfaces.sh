#!/usr/bin/env bash
# Builds the test-only interface packages under test/interfaces/ (today: vision_msgs, which is
# not on PyPI) with colcon into build/test_interfaces/install, a prefix of its own that only
# the tests source (test/vision_msgs_support.py); the node never sees it unless a test adds it.
# test/interfaces/COLCON_IGNORE keeps a robot's workspace build from finding this stand-in
# (it would shadow the real vision_msgs); the packages are named one by one below.
# Idempotent: rebuilds only when a file under test/interfaces/ changed. Called by setup.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
OUT="$ROOT/build/test_interfaces"
export PATH="$VENV/bin:$PATH"
hash=$(find test/interfaces -type f -not -name '*.pyc' | sort | xargs cat | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/.build_hash" 2>/dev/null)" = "$hash" ] && [ -f "$OUT/install/setup.bash" ]; then
  exit 0
fi
echo "[setup] building test interfaces (test/interfaces: vision_msgs) with colcon"
rm -rf "$OUT" && mkdir -p "$OUT"
AMENT_PREFIX_PATH="$VENV" colcon --log-base "$OUT/log" build --base-paths test/interfaces/*/ \
  --build-base "$OUT/build" --install-base "$OUT/install" \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  --event-handlers console_direct- > "$OUT/colcon.log" 2>&1 || { tail -50 "$OUT/colcon.log"; exit 1; }
echo "$hash" > "$OUT/.build_hash"
