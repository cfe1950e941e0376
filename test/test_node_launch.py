"""launch/stmtrack.launch.py as far as the real thing allows here (`launch` is not on PyPI, and
a stand-in would test the stand-in): parsed with `ast`, every argument it declares maps to a
node parameter of the same type, a remap or a node option; every node parameter is an
argument; its pure-Python argument parser is executed as written."""
import ast
import re

import pytest

from conftest import REPO
from stmtrack_ros.node.params import NODE_NAME, all_defaults, launch_argument_types

LAUNCH = REPO / "launch" / "stmtrack.launch.py"
TREE = ast.parse(LAUNCH.read_text())
OPTIONS = {"image", "params_file", "namespace", "log_level"}  # arguments that are not parameters


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def _kwargs(call) -> dict:
    return {k.arg: k.value for k in call.keywords}


def _parameter_args() -> dict:
    """PARAMETER_ARGS as the launch file builds it: the installed package's table."""
    (assign,) = [n for n in TREE.body if isinstance(n, ast.Assign)
                 and getattr(n.targets[0], "id", None) == "PARAMETER_ARGS"]
    assert ast.unparse(assign.value) == "launch_argument_types()"
    (imp,) = [n for n in TREE.body if isinstance(n, ast.ImportFrom)
              and any(a.name == "launch_argument_types" for a in n.names)]
    assert imp.module == "stmtrack_ros.node.params"
    return launch_argument_types()


def _function(name: str):
    """A function of the launch file, compiled and run as written (it uses no launch API)."""
    (fn,) = [n for n in TREE.body if isinstance(n, ast.FunctionDef) and n.name == name]
    scope = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(LAUNCH), "exec"), scope)
    return scope[name]


def test_every_node_parameter_is_an_argument_of_its_type():
    args = _parameter_args()
    defaults = {**all_defaults(), "use_sim_time": False}
    assert set(args) == set(defaults)
    for name, kind in args.items():
        assert kind is type(defaults[name]), name


def test_declared_arguments_map_to_parameters_remaps_or_options():
    literal = {ast.literal_eval(c.args[0]) for c in _calls(TREE, "DeclareLaunchArgument")
               if isinstance(c.args[0], ast.Constant)}
    looped = [c for c in _calls(TREE, "DeclareLaunchArgument") if not isinstance(c.args[0], ast.Constant)]
    assert literal == OPTIONS
    # the parameter arguments are declared in one comprehension over PARAMETER_ARGS, empty by default
    (comp,) = [n for n in ast.walk(TREE) if isinstance(n, ast.ListComp)]
    assert comp.elt is looped[0] and len(looped) == 1
    assert ast.unparse(comp.generators[0].iter) == "PARAMETER_ARGS.items()"
    assert ast.literal_eval(_kwargs(looped[0])["default_value"]) == ""
    # every LaunchConfiguration names a declared argument
    used = {ast.literal_eval(c.args[0]) for c in _calls(TREE, "LaunchConfiguration")
            if isinstance(c.args[0], ast.Constant)}
    assert used == OPTIONS
    # ... and each option reaches the Node: as a remap, the namespace, the parameter file, a ROS arg
    (node,) = _calls(TREE, "Node")
    kw = _kwargs(node)
    assert ast.unparse(kw["namespace"]) == "LaunchConfiguration('namespace')"
    assert ast.unparse(kw["parameters"]) == "[LaunchConfiguration('params_file'), overrides]"
    assert ast.unparse(kw["ros_arguments"]) == "['--log-level', log_level]"
    remaps = [(ast.literal_eval(t.elts[0]), ast.unparse(t.elts[1])) for t in kw["remappings"].elts]
    assert remaps[0] == ("image", "image")
    assert {"image", "log_level"} <= {t.id for n in ast.walk(TREE) if isinstance(n, ast.Assign)
                                      for t in n.targets if isinstance(t, ast.Name)}


def test_remaps_name_the_nodes_real_inputs():
    (node,) = _calls(TREE, "Node")
    remapped = [ast.literal_eval(t.elts[0]) for t in _kwargs(node)["remappings"].elts]
    assert remapped == ["image"]  # <image>/compressed and camera_info follow it in the node
    src = (REPO / "stmtrack_ros" / "node" / "tracker_node.py").read_text()
    assert 'base = self.resolve_topic_name("image")' in src
    assert 'base + "/compressed"' in src and "camera_info_beside(base)" in src


def test_node_executable_name_and_parameter_file_are_installed():
    (node,) = _calls(TREE, "Node")
    kw = _kwargs(node)
    assert ast.literal_eval(kw["package"]) == "stmtrack_ros"
    exe = ast.literal_eval(kw["executable"])
    assert re.search(rf"{exe} = stmtrack_ros\.node\.tracker_node:main", (REPO / "setup.py").read_text())
    script = REPO / "scripts" / exe
    assert script.is_file() and "stmtrack_ros.node.tracker_node import main" in script.read_text()
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert f"scripts/{exe}" in cmake and "install(DIRECTORY launch config" in cmake
    assert ast.literal_eval(kw["name"]) == NODE_NAME
    (share,) = _calls(TREE, "PathJoinSubstitution")
    assert ast.unparse(share) == ("PathJoinSubstitution([FindPackageShare('stmtrack_ros'), 'config', "
                                  "'stmtrack.yaml'])")
    assert (REPO / "config" / "stmtrack.yaml").is_file()


def test_argument_text_becomes_the_parameter_type():
    typed = _function("_typed")
    args = _parameter_args()
    for name, default in {**all_defaults(), "use_sim_time": False}.items():
        text = str(default).lower() if isinstance(default, bool) else str(default)
        value = typed(name, text, args[name])
        assert value == default and type(value) is type(default), name
    assert typed("fp16", "True", bool) is True and typed("lost_frames", "12", int) == 12
    for name, text, kind in (("fp16", "yes", bool), ("lost_frames", "1.5", int),
                             ("lost_threshold", "high", float)):
        with pytest.raises(ValueError, match=f"launch argument {name}:=") as e:
            typed(name, text, kind)
        assert "\n" not in str(e.value)
