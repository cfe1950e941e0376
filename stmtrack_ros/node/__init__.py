"""ROS 2 wiring of the stmtrack node: the node, image conversion, frame buffer, parameters, diagnostics."""
