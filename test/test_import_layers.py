"""The package's layers, read from the source (docs/architecture.md): each subpackage imports
only the ones below it, no module imports itself back through others (function-level imports
count too), the core imports no ROS, and nothing in the product imports research/."""
import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "stmtrack_ros"
# what each subpackage may import of the others (msg, srv: the ROS interfaces, built by colcon)
ALLOWED = {
    "datasets": set(),
    "model": set(),
    "tracker": {"model", "datasets"},
    "eval": {"tracker", "model", "datasets"},
    "train": {"eval", "tracker", "model", "datasets"},
    "node": {"tracker", "model", "msg", "srv"},
    "tools": {"node", "tracker", "model", "datasets", "msg", "srv"},
    "cli": set(),  # dispatch by importlib, when a sub-command runs
}
CORE = ("datasets", "model", "tracker", "eval", "train")
ROS = {"rclpy", "rosbags", "ament_index_python", "cv_bridge", "launch", "launch_ros",
       "rosidl_runtime_py"}


def _modules() -> dict:
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(REPO).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _imports(name: str, path: Path, modules) -> set:
    """Absolute names `name` imports anywhere in its file (submodules where they are ones)."""
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Import):
            out.update(a.name for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                up = pkg.split(".")[: len(pkg.split(".")) - n.level + 1]
                base = ".".join(up + ([n.module] if n.module else []))
            subs = {f"{base}.{a.name}" for a in n.names} & set(modules)
            out.update(subs or {base})
    return out


MODULES = _modules()
IMPORTS = {m: _imports(m, f, MODULES) for m, f in MODULES.items()}


def _layer(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


def _is_ros(name: str) -> bool:
    top = name.split(".")[0]
    return top in ROS or top.endswith(("_msgs", "_srvs", "_interfaces")) or \
        (top == "stmtrack_ros" and _layer(name) in ("msg", "srv"))


def test_the_reader_sees_the_package():
    assert {"stmtrack_ros.tracker.tracker", "stmtrack_ros.node.tracker_node",
            "stmtrack_ros.datasets.records"} <= set(MODULES)
    assert "stmtrack_ros.model.input_tensor" in IMPORTS["stmtrack_ros.tracker.tracker"]
    assert "rclpy" in IMPORTS["stmtrack_ros.node.tracker_node"]


def test_each_layer_imports_only_the_layers_below():
    wrong = []
    for m, names in IMPORTS.items():
        layer = _layer(m)
        if layer not in ALLOWED:  # stmtrack_ros/__init__.py
            continue
        for n in names:
            other = _layer(n) if n.startswith("stmtrack_ros.") else ""
            if other and other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{m} imports {n}")
    assert not wrong, wrong
    assert set(ALLOWED) >= {_layer(m) for m in MODULES if m.count(".")}  # a new layer is placed


def test_no_import_circles():
    """Function-level imports too; a module's own parent packages are not counted (Python
    imports them first)."""
    graph = {m: {n for n in names if n in MODULES and not m.startswith(n + ".")} - {m}
             for m, names in IMPORTS.items()}
    circles, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                circles.append(" -> ".join(path[path.index(n):] + [m, n]))
            elif n not in state:
                visit(n, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not circles, circles


def test_the_core_imports_no_ros_and_nothing_imports_research():
    ros = [f"{m} imports {n}" for m, names in IMPORTS.items() if _layer(m) in CORE
           for n in names if _is_ros(n)]
    assert not ros, ros
    research = [f"{m} imports {n}" for m, names in IMPORTS.items() for n in names
                if n.split(".")[0] == "research"]
    assert not research, research
