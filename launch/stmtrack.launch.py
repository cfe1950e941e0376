"""Start the stmtrack node on a real ROS 2 install (Humble or newer).

    ros2 launch stmtrack_ros stmtrack.launch.py image:=/camera/image_raw device:=cuda
    ros2 launch stmtrack_ros stmtrack.launch.py image:=/camera/image_raw use_compressed:=true
    ros2 launch stmtrack_ros stmtrack.launch.py -s        # every argument, described

Parameters come from params_file (default: the installed config/stmtrack.yaml). Every node
parameter is also a launch argument; left empty (the default) it keeps the file's value, so
an argument never silently overrides the file. `image` remaps the camera topic; the node
derives `<image>/compressed` (use_compressed) and the `camera_info` beside the image topic
from it, as image_transport does. `autostart:=false` leaves the node unconfigured for a
lifecycle manager.
`launch` is not on PyPI, so test_node_launch.py checks this file's structure with `ast`.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from stmtrack_ros.node.params import launch_argument_types

# Launch argument = node parameter of the same name, with its type, read from the installed
# package (stmtrack_ros/node/params.py declares them), so a new parameter is an argument too.
PARAMETER_ARGS = launch_argument_types()


def _typed(name: str, text: str, kind: type):
    """A launch argument's text as the parameter's type, or a one-line error naming it."""
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"launch argument {name}:={text!r}: use true or false")
        return text.lower() == "true"
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"launch argument {name}:={text!r}: expected {kind.__name__}") from None


def _node(context):
    overrides = {}
    for name, kind in PARAMETER_ARGS.items():
        text = LaunchConfiguration(name).perform(context)
        if text != "":
            overrides[name] = _typed(name, text, kind)
    log_level = LaunchConfiguration("log_level").perform(context)
    image = LaunchConfiguration("image").perform(context)
    return [Node(
        package="stmtrack_ros",
        executable="stmtrack_node",
        name="stmtrack",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=[("image", image)],
        ros_arguments=["--log-level", log_level],
    )]


def generate_launch_description():
    default_params = PathJoinSubstitution([FindPackageShare("stmtrack_ros"), "config",
                                           "stmtrack.yaml"])
    args = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="camera topic (sensor_msgs/Image); the node also "
                                          "reads IMAGE/compressed (use_compressed) and the "
                                          "camera_info beside IMAGE"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="parameter file (defaults: config/stmtrack.yaml)"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="debug, info, warn, error or fatal"),
    ]
    args += [DeclareLaunchArgument(name, default_value="",
                                   description=f"node parameter {name} ({kind.__name__}); empty "
                                               "= the params_file's value")
             for name, kind in PARAMETER_ARGS.items()]
    return LaunchDescription([*args, OpaqueFunction(function=_node)])
