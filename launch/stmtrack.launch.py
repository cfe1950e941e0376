"""Start the stmtrack node on a real ROS 2 install (Humble or newer).

    ros2 launch stmtrack_ros stmtrack.launch.py image:=/camera/image_raw device:=cuda
    ros2 launch stmtrack_ros stmtrack.launch.py image:=/camera/image_raw use_compressed:=true

Parameters come from config/stmtrack.yaml (installed to share/stmtrack_ros/config); the
arguments below override the most common ones. `launch` is not on PyPI, so the tests check
this file as text (test_node_params.py) instead of running it.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    default_params = PathJoinSubstitution([FindPackageShare("stmtrack_ros"), "config",
                                           "stmtrack.yaml"])
    args = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="camera topic (sensor_msgs/Image); with "
                                          "use_compressed, IMAGE/compressed is used"),
        DeclareLaunchArgument("use_compressed", default_value="false",
                              description="subscribe sensor_msgs/CompressedImage instead"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="model checkpoint (.pt); empty = bundled small model"),
        DeclareLaunchArgument("device", default_value="cpu", description="cpu, cuda or cuda:N"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="parameter file (defaults: config/stmtrack.yaml)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag playback with --clock)"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
    ]
    image = LaunchConfiguration("image")
    node = Node(
        package="stmtrack_ros",
        executable="stmtrack_node",
        name="stmtrack",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "use_compressed": ParameterValue(LaunchConfiguration("use_compressed"),
                                                 value_type=bool),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"),
                                               value_type=bool),
            },
        ],
        remappings=[("image", image), ("image/compressed", [image, "/compressed"])],
    )
    return LaunchDescription([*args, node])
