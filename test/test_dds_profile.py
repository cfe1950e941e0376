"""config/fastdds_localhost.xml is what keeps every test, the demo and CI on loopback. Fast DDS
drops the whole file on one bad element, saying so only on stderr ("XMLPARSER Error"), and
then runs on its built-in transports (multicast on every interface) with its 100 ms service
answer wait. So a real process with a node, a service and a publisher must load the file
without a parser error, and its participant must be the file's: the 64 MiB shared-memory
segment the file asks for (a rejected file left segments under 1 MiB). A broken copy is not
run here: that process would send discovery traffic beyond loopback."""
import os
import subprocess
import sys

import pytest

from conftest import REPO
from node_support import domain_id, node_env

pytestmark = pytest.mark.ros

PROFILE = REPO / "config" / "fastdds_localhost.xml"
_PROCESS = """
import glob, os
before = set(glob.glob("/dev/shm/fastdds_*"))
import rclpy
from std_msgs.msg import String
from std_srvs.srv import Trigger
rclpy.init()
node = rclpy.create_node("profile_check")
node.create_service(Trigger, "ping", lambda req, res: res)
node.create_publisher(String, "chatter", 1)
new = set(glob.glob("/dev/shm/fastdds_*")) - before
print("largest new segment", max((os.path.getsize(p) for p in new), default=0))
node.destroy_node()
rclpy.shutdown()
"""


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm to look at the segment")
def test_the_project_profile_loads_and_is_the_one_in_use():
    text = PROFILE.read_text()
    assert "<useBuiltinTransports>false</useBuiltinTransports>" in text
    assert '<data_writer profile_name="service">' in text  # the services' answer wait
    env = {**node_env(domain_id(45)), "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}
    run = subprocess.run([sys.executable, "-c", _PROCESS], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "XMLPARSER" not in run.stderr, run.stderr
    largest = int(run.stdout.split("largest new segment")[1].split()[0])
    assert largest >= 64 * 2**20, f"shared-memory segment {largest} B: not the profile's 64 MiB"
