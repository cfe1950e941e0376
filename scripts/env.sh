# Source this from the repo root (bash): the venv, the colcon install and localhost-only DDS.
#   source scripts/env.sh
_STMTRACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export VIRTUAL_ENV="$_STMTRACK_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
if [ -f "$_STMTRACK_ROOT/install/setup.bash" ]; then
  # colcon's setup scripts reference unset variables; tolerate `set -u` callers.
  case $- in *u*) set +u; . "$_STMTRACK_ROOT/install/setup.bash"; set -u ;; *) . "$_STMTRACK_ROOT/install/setup.bash" ;; esac
fi
# DDS never leaves this machine: shared memory + UDP on 127.0.0.1 only.
export FASTDDS_DEFAULT_PROFILES_FILE="$_STMTRACK_ROOT/config/fastdds_localhost.xml"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
unset ROS_AUTOMATIC_DISCOVERY_RANGE  # that mode would replace the profile's transports
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 90) + 10 ))}
# OpenMP threads that spin while waiting make torch 4-5x slower when other processes share
# the cores (the normal case on a robot's computer); must be set before torch loads.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
