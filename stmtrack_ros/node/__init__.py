"""ROS 2 wiring: the stmtrack node, image conversion, frame buffer, diagnostics, demo tools."""
