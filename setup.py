"""pip metadata for stmtrack_ros (colcon builds the ROS interfaces from CMakeLists.txt).

scripts/setup.sh installs this editable into .venv so the console commands exist;
the generated message modules come from the colcon install (see scripts/env.sh).
"""
from setuptools import find_packages, setup

setup(
    name="stmtrack_ros",
    version="0.1.0",
    description="STMTrack visual object tracker: ROS 2 node, tracker library, eval and training",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["stmtrack_ros", "stmtrack_ros.*"]),
    package_data={"stmtrack_ros": ["models/*.pt", "models/*.pt.sha256", "models/*.md", "model/*.json",
                                   "data/demo/*"]},
    install_requires=[
        "numpy>=1.24",
        "torch>=2.1",
        "opencv-contrib-python-headless>=4.7",
        "PyYAML>=6",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "rosbags>=0.11",
    ],
    entry_points={
        "console_scripts": [
            "stmtrack = stmtrack_ros.cli:main",
            "stmtrack_node = stmtrack_ros.node.tracker_node:main",
        ]
    },
)
