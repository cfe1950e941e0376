#!/usr/bin/env bash
# One idempotent set-up: .venv with pinned deps, the ROS interfaces built with colcon,
# and the package installed (editable) so `stmtrack` and `stmtrack_node` are on PATH.
# Re-running it only redoes the steps whose inputs changed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}

mkdir -p build
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
fi
export PATH="$VENV/bin:$PATH"

req_hash=$(cat requirements/requirements.txt requirements/constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.req_hash" 2>/dev/null)" != "$req_hash" ]; then
  echo "[setup] installing pinned dependencies (about 1-2 minutes)"
  # (this machine's pip config names local mirrors that may be missing: hide those warnings)
  { "$VENV/bin/python" -m pip install --quiet --upgrade 'pip==25.3' &&
    "$VENV/bin/python" -m pip install --quiet -r requirements/requirements.txt -c requirements/constraints.txt
  } 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  # The ROS wheels' CMake exports hard-code the wheel builder's Python paths; point them here.
  PYINC=$("$VENV/bin/python" -c 'import sysconfig;print(sysconfig.get_paths()["include"])')
  NPINC=$("$VENV/bin/python" -c 'import numpy;print(numpy.get_include())')
  { grep -rl /opt/python/cp311-cp311 "$VENV"/share/*/cmake 2>/dev/null || true; } | xargs -r sed -i \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g"
  echo "$req_hash" > "$VENV/.req_hash"
fi

build_hash=$(cat CMakeLists.txt package.xml msg/*.msg srv/*.srv | sha256sum | cut -c1-16)
if [ "$(cat install/.build_hash 2>/dev/null)" != "$build_hash" ] || [ ! -f install/setup.bash ]; then
  echo "[setup] building ROS interfaces with colcon"
  # CMake refuses exported include paths inside the source directory, and .venv is inside
  # the repo: so colcon sees the package through a folder of links under build/.
  SRC="$ROOT/build/src/stmtrack_ros"
  rm -rf "$SRC" && mkdir -p "$SRC"
  for f in CMakeLists.txt package.xml msg srv launch config scripts stmtrack_ros; do ln -s "$ROOT/$f" "$SRC/$f"; done
  AMENT_PREFIX_PATH="$VENV" colcon --log-base build/log build --base-paths "$SRC" \
    --build-base build --install-base install \
    --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF -DSTMTRACK_INSTALL_PYTHON=OFF \
    --event-handlers console_direct- > build/colcon.log 2>&1 || { tail -50 build/colcon.log; exit 1; }
  echo "$build_hash" > install/.build_hash
fi

if [ ! -x "$VENV/bin/stmtrack" ] || [ setup.py -nt "$VENV/.editable_stamp" ]; then
  echo "[setup] installing stmtrack_ros (editable) into $VENV"
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation --config-settings editable_mode=compat -e .
  touch "$VENV/.editable_stamp"
fi
# Test-only interface packages (vision_msgs stand-in) in a prefix of their own.
bash scripts/build_test_interfaces.sh

echo "[setup] ready: source scripts/env.sh to use it in a shell"
