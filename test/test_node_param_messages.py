"""Runtime parameter mistakes answered in the user's words through the node's set_parameters
service (what `ros2 param set` calls): one line naming the parameter and what it takes,
instead of rclpy's "Wrong parameter type, expected '3' got '4'" and "undeclared
parameter(s): []". (Start-up mistakes: test_node_params.py.)"""
import pytest

from node_support import NodeProcess, RosClient, domain_id

pytestmark = pytest.mark.ros


def test_runtime_mistakes_through_the_parameter_service(tmp_path):
    d = domain_id(15)
    with NodeProcess(d, tmp_path / "node.log", params={"autostart": False},
                     extra_args=["-p", "lost_treshold:=0.2"]) as proc:
        client = RosClient(d)
        try:
            assert client.set_cli.wait_for_service(timeout_sec=60), proc.log()
            wrong = client.set_param("lost_frames", 2.5)
            assert not wrong.successful
            assert wrong.reason == "lost_frames=2.5 is a double; expected an integer in [1, 10000]"
            unknown = client.set_param("memory_capacty", 4)
            assert not unknown.successful and unknown.reason == (
                "memory_capacty is no parameter of stmtrack; did you mean memory_capacity?; "
                "nothing changed")
            read_only = client.set_param("mode", "exact")
            assert not read_only.successful and "read-only" in read_only.reason
            assert "-p mode:=VALUE" in read_only.reason
            ok = client.set_param("lost_frames", 7)  # a good change still goes through
            assert ok.successful and client.get_param("lost_frames") == 7
            assert client.get_param("mode") == "bounded"  # the refused ones changed nothing
        finally:
            client.close()
        log = proc.log()
    assert "lost_treshold is no parameter of stmtrack; did you mean lost_threshold?" in log, log
    for line in log.splitlines():
        assert "expected '" not in line and "undeclared parameter(s)" not in line, line
