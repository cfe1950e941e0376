"""load_checkpoint / save_checkpoint: accepted layouts, every refusal and its one-line message,
ModelConfig round trips, and the ROS-free import of the model package."""
import pickle
import subprocess
import sys
import warnings
from collections import OrderedDict

import pytest
import torch

from conftest import REPO
from stmtrack_ros.model import (
    CheckpointError,
    ModelConfig,
    STMTrackNet,
    default_checkpoint_path,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)
from stmtrack_ros.model.portable import UNUSED_PREFIXES, official_entries, portable_state_dict


def cheap_state_dict(include_unused=True):
    """Every official entry with the right shape, stored as a 1-element expanded tensor
    (a few KB on disk): key/shape checks without writing 157 MB per case."""
    sd = OrderedDict()
    for name, shape in official_entries():
        if name.startswith(UNUSED_PREFIXES) and not include_unused:
            continue
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.zeros((), dtype=torch.int64)
        else:
            sd[name] = torch.full((), 0.5).expand(shape)
    return sd


def save(tmp_path, obj, name="ckpt.pt"):
    p = tmp_path / name
    torch.save(obj, p)
    return p


def refused(path, *fragments, **kw):
    """load_checkpoint(path) must raise CheckpointError whose one-line message holds fragments."""
    with pytest.raises(CheckpointError) as ei:
        load_checkpoint(path, **kw)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert ei.value.__cause__ is None  # no torch-internal traceback chained under it
    return msg


# ---- accepted layouts -----------------------------------------------------------------------

def test_official_snapshot_with_optimizer_state_loads(tmp_path):
    sd = cheap_state_dict()
    p = save(tmp_path, {"epoch": 19, "model_state_dict": sd,
                        "optimizer_state_dict": {"state": {},
                                                 "param_groups": [{"lr": 0.08, "params": [0, 1]}]}})
    net = load_checkpoint(p)
    assert isinstance(net, STMTrackNet) and not net.training
    assert net.config == ModelConfig()
    assert net.head.si.item() == 0.5 and net.basemodel_q.Mixed_6e.branch_pool.bn.running_var[0].item() == 0.5
    assert not hasattr(net, "r_x")  # the 28 unused entries were dropped


def test_bare_state_dict_with_or_without_unused_entries_and_ddp_prefix(tmp_path):
    for i, sd in enumerate([cheap_state_dict(False), cheap_state_dict(True),
                            {"module." + k: v for k, v in cheap_state_dict().items()}]):
        net = load_checkpoint(save(tmp_path, sd, f"bare{i}.pt"))
        assert net.neck_m.adjustor.bias[3].item() == 0.5


def test_round_trip_of_our_format(tmp_path):
    net = STMTrackNet()
    net.load_state_dict(portable_state_dict(2, include_unused=False))
    opt = torch.optim.SGD([net.head.si, net.head.bi], lr=0.01, momentum=0.9)
    net.head.si.grad = torch.tensor(1.0)
    net.head.bi.grad = torch.tensor(1.0)
    opt.step()
    p = save_checkpoint(tmp_path / "sub" / "ours.pt", net, epoch=7, optimizer_state=opt.state_dict(),
                        extra={"note": "round trip", "train_iou": 0.85})
    raw = torch.load(p, map_location="cpu", weights_only=True)  # plain types only
    assert raw["epoch"] == 7 and raw["model_config"] == ModelConfig().to_dict()
    assert raw["note"] == "round trip" and raw["train_iou"] == 0.85
    assert raw["optimizer_state_dict"]["param_groups"][0]["lr"] == 0.01
    back = load_checkpoint(p)
    assert back.config == net.config
    ref = net.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in back.state_dict().items())
    assert not list(tmp_path.joinpath("sub").glob(".*tmp*"))  # atomic write left no temp file


def test_round_trip_of_a_non_default_config(tmp_path):
    # a different head (width 64, 3 convs): the config inside the file rebuilds it
    cfg = ModelConfig(head_width=64, head_convs=3, neck_channels=128)
    net = STMTrackNet(cfg)
    p = save_checkpoint(tmp_path / "custom.pt", net)
    back = load_checkpoint(p)
    assert back.config == cfg
    assert back.head.cls_ctr.conv1.weight.shape == (64, 256, 3, 3)
    assert len(back.head.cls_ctr.conv_layers) == 4
    # the same weights without their config do not fit the default network: told why
    refused(save(tmp_path, net.state_dict(), "noconf.pt"), "mis-shaped", "model_config")


def test_save_checkpoint_refuses_bad_arguments(tmp_path):
    net = STMTrackNet()
    with pytest.raises(ValueError, match="overwrite"):
        save_checkpoint(tmp_path / "x.pt", net, extra={"epoch": 3})
    with pytest.raises(ValueError, match="optimized_copy"):
        save_checkpoint(tmp_path / "x.pt", net.optimized_copy())
    with pytest.raises(TypeError, match="STMTrackNet"):
        save_checkpoint(tmp_path / "x.pt", torch.nn.Linear(2, 2))
    assert not (tmp_path / "x.pt").exists()


# ---- refusals, each with its message ---------------------------------------------------------

def test_missing_file(tmp_path):
    refused(tmp_path / "nope.pkl", "checkpoint not found", "nope.pkl")


def test_directory_and_empty_file(tmp_path):
    refused(tmp_path, "directory")
    (tmp_path / "empty.pt").write_bytes(b"")
    refused(tmp_path / "empty.pt", "empty", "re-download")


def test_truncated_files(tmp_path):
    for legacy in (False, True):
        p = tmp_path / f"full{legacy}.pt"
        torch.save({"epoch": 1, "model_state_dict": cheap_state_dict()}, p,
                   _use_new_zipfile_serialization=not legacy)
        data = p.read_bytes()
        (tmp_path / "cut.pt").write_bytes(data[: len(data) * 2 // 3])
        refused(tmp_path / "cut.pt", "truncated or corrupt", "re-download or re-save")


def test_corrupt_files(tmp_path):
    (tmp_path / "text.pt").write_text("this is not a checkpoint\n")
    refused(tmp_path / "text.pt", "text.pt")
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 40)
    refused(tmp_path / "noise.pt", "noise.pt")


class NotWeights:
    def __init__(self):
        self.payload = "a pickled custom object"


def test_pickle_of_a_custom_object_is_refused_by_weights_only(tmp_path):
    p = tmp_path / "obj.pkl"
    with open(p, "wb") as f:
        pickle.dump({"model_state_dict": NotWeights()}, f, protocol=2)
    msg = refused(p, "not a weights-only checkpoint", "Python objects", "save a plain state_dict")
    assert "NotWeights" in msg  # names the refused global
    torch.save({"model": NotWeights()}, tmp_path / "obj.pt")
    refused(tmp_path / "obj.pt", "not a weights-only checkpoint")
    with open(tmp_path / "p4.pkl", "wb") as f:
        pickle.dump(NotWeights(), f, protocol=4)
    refused(tmp_path / "p4.pkl", "not a weights-only checkpoint")


def test_non_checkpoint_containers(tmp_path):
    refused(save(tmp_path, [1, 2, 3], "list.pt"), "holds a list", "model_state_dict")
    refused(save(tmp_path, {}, "emptydict.pt"), "empty state_dict")
    refused(save(tmp_path, {"epoch": 3, "lr": 0.1}, "notsd.pt"), "not a state_dict checkpoint", "'epoch'")
    refused(save(tmp_path, {"model_state_dict": [torch.zeros(2)]}, "sdlist.pt"),
            "'model_state_dict' is a list")


def test_checkpoint_of_another_architecture(tmp_path):
    resnet_like = {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 512),
                   "fc.bias": torch.zeros(1000)}
    refused(save(tmp_path, {"epoch": 0, "model_state_dict": resnet_like}, "resnet.pt"),
            "not an STMTrack checkpoint", "none of its 3 keys match", "'conv1.weight'")
    refused(save(tmp_path, {"model_state_dict": cheap_state_dict(), "model_config": {"backbone": "resnet50"}},
                 "kind.pt"), "another architecture", "unknown backbone kind 'resnet50'")


def test_missing_unexpected_and_misshaped_keys_are_named(tmp_path):
    sd = cheap_state_dict()
    del sd["head.si"]
    refused(save(tmp_path, sd, "miss.pt"), "1 missing ('head.si')")
    sd = cheap_state_dict()
    sd["head.extra.weight"] = torch.zeros(3)
    refused(save(tmp_path, sd, "unexp.pt"), "1 unexpected ('head.extra.weight')")
    sd = cheap_state_dict()
    sd["neck_q.adjustor.bias"] = torch.zeros(256)
    refused(save(tmp_path, sd, "shape.pt"), "1 mis-shaped", "'neck_q.adjustor.bias' is (256,)",
            "wants (512,)")
    sd = cheap_state_dict()
    for k in [k for k in sd if k.startswith("basemodel_m.Mixed_6e.")]:
        del sd[k]
    msg = refused(save(tmp_path, sd, "many.pt"), "60 missing", "and 56 more")
    assert len(msg) < 600


def test_bad_model_config_in_the_file(tmp_path):
    refused(save(tmp_path, {"model_state_dict": cheap_state_dict(),
                            "model_config": {"head_widht": 64}}, "c1.pt"),
            "bad 'model_config'", "unknown keys ['head_widht']")
    refused(save(tmp_path, {"model_state_dict": cheap_state_dict(),
                            "model_config": {"head_width": "64"}}, "c2.pt"),
            "bad 'model_config'", "head_width must be int")


def test_non_finite_weights(tmp_path):
    sd = cheap_state_dict()
    sd["head.bi"] = torch.tensor(float("nan"))
    refused(save(tmp_path, sd, "nan.pt"), "'head.bi' holds NaN or infinite values")


def test_default_checkpoint_path_and_its_absence(tmp_path):
    p = default_checkpoint_path()
    assert p.name == "stmtrack_small.pt" and p.parent.name == "models"
    assert p.parent.parent.name == "stmtrack_ros"
    if not p.exists():
        refused(p, "checkpoint not found")


# ---- device -------------------------------------------------------------------------------

def test_cuda_request_falls_back_to_cpu_with_a_warning(tmp_path):
    p = save(tmp_path, cheap_state_dict(), "d.pt")
    if torch.cuda.is_available():
        assert load_checkpoint(p, device="cuda").head.si.device.type == "cuda"
        return
    with pytest.warns(RuntimeWarning, match="CUDA is not available; using the CPU"):
        net = load_checkpoint(p, device="cuda")
    assert net.head.si.device.type == "cpu"
    with pytest.warns(RuntimeWarning):
        assert resolve_device("cuda:1") == torch.device("cpu")


def test_unknown_device_string():
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_device("cpu") == torch.device("cpu")


# ---- ModelConfig -------------------------------------------------------------------------

def test_model_config_defaults_and_round_trip():
    c = ModelConfig()
    assert (c.backbone, c.q_size, c.total_stride, c.score_size, c.crop_pad) == ("inception_v3", 289, 8, 25, 4)
    assert (c.backbone_channels, c.neck_channels, c.head_width, c.head_convs) == (768, 512, 256, 7)
    assert c.score_offset == 48 and c.num_positions == 625
    d = c.to_dict()
    assert all(type(v) in (int, str) for v in d.values())
    assert ModelConfig.from_dict(d) == c
    assert ModelConfig.from_dict({"head_width": 64}) == ModelConfig(head_width=64)  # absent -> default


@pytest.mark.parametrize("bad,needle", [
    ({"foo": 1}, "unknown keys ['foo']"),
    ({"q_size": 289.0}, "q_size must be int"),
    ({"head_convs": True}, "head_convs must be int"),
    ({"score_size": 0}, "score_size=0 is out of range 1..128"),
    ({"head_width": 10 ** 6}, "head_width=1000000 is out of range 1..512"),
    ({"head_convs": 100000}, "head_convs=100000 is out of range 1..8"),
    ({"neck_kernel": 2}, "neck_kernel must be odd"),
    ({"score_size": 40}, "does not fit"),
])
def test_model_config_refusals(bad, needle):
    with pytest.raises(ValueError) as ei:
        ModelConfig.from_dict(bad)
    assert needle in str(ei.value)
    with pytest.raises(ValueError):
        ModelConfig.from_dict([("q_size", 289)])


def test_network_refuses_bad_inputs_with_clear_errors():
    net = STMTrackNet(ModelConfig(head_width=8, head_convs=2)).eval()
    with pytest.raises(ValueError, match=r"images must be a float tensor \(N,3,289,289\)"):
        net.memorize(torch.zeros(1, 3, 100, 100), torch.zeros(1, 1, 100, 100))
    with pytest.raises(ValueError, match=r"label_maps must be a float tensor \(1,1,289,289\)"):
        net.memorize(torch.zeros(1, 3, 289, 289), torch.zeros(2, 1, 289, 289))
    with pytest.raises(ValueError, match=r"memory must be \(1,512,T,25,25\)"):
        net.track(torch.zeros(1, 3, 289, 289), torch.zeros(1, 512, 25, 25))
    with pytest.raises(ValueError, match="needs the fg/bg label map"):
        net.basemodel_m(torch.zeros(1, 3, 289, 289))


# ---- ROS-free import -------------------------------------------------------------------------

def test_model_package_imports_without_rclpy():
    code = ("import sys; sys.modules['rclpy'] = None; sys.modules['sensor_msgs'] = None; "
            "import stmtrack_ros.model as m; m.load_checkpoint; m.STMTrackNet; "
            "bad = [k for k in sys.modules "
            "if k.split('.')[0] in ('rclpy', 'sensor_msgs') and sys.modules[k]]; "
            "assert not bad, bad; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
