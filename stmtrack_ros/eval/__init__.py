"""Benchmark evaluation (sequences read by `stmtrack_ros.datasets`): metrics (cross-checked
against the got10k toolkit), OpenCV peer trackers, a resumable parallel runner, plots and
reports. ROS-free."""
