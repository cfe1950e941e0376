"""stmtrack_ros: STMTrack tracking as a ROS-free library plus a thin ROS 2 node.

The import package is split over two directories: this source tree (pure Python) and the
colcon install, which adds the generated `stmtrack_ros.msg` / `stmtrack_ros.srv`.
`extend_path` above merges them, so the order of sys.path entries does not matter.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)

__version__ = "0.1.0"
