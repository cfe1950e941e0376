"""The node's logger cannot raise: one calling line at several severities (what ended the
process through rclpy's "Logger severity cannot be changed between calls"), and a rate limit
that reports what it held back."""
import time

import pytest

pytest.importorskip("rclpy")

from rclpy.logging import get_logger  # noqa: E402

from stmtrack_ros.node.safe_log import SafeLog, one_line  # noqa: E402


def test_one_line_collapses_and_caps():
    assert one_line("a\n  b\tc\r\n") == "a b c"
    long = one_line("x" * 5000, 100)
    assert len(long) == 100 and long.endswith("...")


def test_one_calling_line_at_alternating_severities_never_raises(capfd):
    log = SafeLog(get_logger("safe_log_test_severity"))
    for i in range(6):
        (log.info if i % 2 else log.warning)(f"call {i}\nsecond line")  # one site, two levels
    err = capfd.readouterr().err
    assert all(f"call {i} second line" in err for i in range(6)), err
    assert "WARN" in err and "INFO" in err and "cannot be changed" not in err


def test_rate_limit_per_calling_line_counts_what_it_held_back(capfd):
    log = SafeLog(get_logger("safe_log_test_rate"))

    def warn(k):
        log.warning(f"burst {k}", every=0.3)

    for k in range(5):
        warn(k)
        log.error(f"other line {k}", every=0.3)  # its own site, its own limit
    time.sleep(0.35)
    warn(99)
    err = capfd.readouterr().err
    assert "burst 0" in err and "burst 1" not in err and "burst 4" not in err
    assert "other line 0" in err and "other line 1" not in err
    assert "burst 99 (4 more like this in the last 0.3 s not shown)" in err, err
