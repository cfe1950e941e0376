"""Benchmark evaluation: dataset readers, metrics (cross-checked against the got10k toolkit),
OpenCV peer trackers, a resumable parallel runner, plots and reports. ROS-free."""
