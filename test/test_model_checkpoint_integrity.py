"""Issue #18 item 4: the bundled model's sha256, digests for user files, model-config ranges
checked before anything is built, odd tensors, and CheckpointError messages that stay one
short line whatever the file holds."""
import shutil
import time

import pytest
import torch

from stmtrack_ros.model import (
    CheckpointError,
    STMTrackNet,
    backbone_small,
    default_checkpoint_path,
    inception,
    load_checkpoint,
)
from stmtrack_ros.model.backbone_small import small_config
from stmtrack_ros.model.checkpoint import MAX_MESSAGE_CHARS, file_sha256, save_checkpoint, write_sha256
from stmtrack_ros.model.config import ModelConfig


def refused(path, *fragments, **kw) -> str:
    with pytest.raises(CheckpointError) as ei:
        load_checkpoint(path, **kw)
    msg = str(ei.value)
    assert "\n" not in msg and len(msg) <= MAX_MESSAGE_CHARS, msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A small saved model (127-px crops) and its state_dict."""
    torch.manual_seed(0)
    net = STMTrackNet(small_config(q_size=127, score_size=6, neck_channels=8, head_width=8, head_convs=1))
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pt", net), net


# ---- sha256 ---------------------------------------------------------------------------------
def test_bundled_model_has_a_matching_digest_file():
    path = default_checkpoint_path()
    side = path.with_name(path.name + ".sha256")
    assert side.is_file(), "the bundled model ships its sha256 (run write_sha256 after replacing it)"
    assert side.read_text().split()[0] == file_sha256(path)
    assert load_checkpoint(path).config == small_config()


def test_a_flipped_byte_in_a_copy_of_the_bundled_model_is_refused(tmp_path):
    src = default_checkpoint_path()
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    shutil.copy(src.with_name(src.name + ".sha256"), tmp_path)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01                 # inside a weight: torch.load alone accepts it
    copy.write_bytes(bytes(data))
    refused(copy, "sha256", "damaged", "re-download")


def test_user_digest_is_checked(tiny_file, tmp_path):
    path, _ = tiny_file
    digest = file_sha256(path)
    assert load_checkpoint(path, sha256=digest.upper()).config.q_size == 127
    refused(path, "not the expected", sha256="0" * 64)
    from stmtrack_ros.tracker import Tracker, TrackerParams
    torch_only = TrackerParams(backend="torch")   # the digest is checked before any backend
    assert Tracker.from_checkpoint(path, torch_only, sha256=digest).config.q_size == 127
    with pytest.raises(CheckpointError, match="not the expected"):
        Tracker.from_checkpoint(path, torch_only, sha256="f" * 64)
    refused(path, "not a sha256 digest", sha256="abc")
    own = tmp_path / "own.pt"
    shutil.copy(path, own)
    assert write_sha256(own).read_text().startswith(digest)
    assert load_checkpoint(own).config.q_size == 127
    (tmp_path / "own.pt.sha256").write_text("not-a-digest  own.pt\n")
    refused(own, "own.pt.sha256", "not a sha256 digest")


# ---- model config ranges, before anything is built ------------------------------------------
@pytest.mark.parametrize("change, fragment", [
    ({"head_width": 10 ** 6}, "head_width=1000000 is out of range 1..512"),
    ({"head_convs": 100000}, "head_convs=100000 is out of range 1..8"),
    ({"neck_channels": 10 ** 9}, "out of range 1..1024"),
    ({"q_size": 10 ** 12}, "q_size=1000000000000 is out of range 32..1024"),
    ({"score_size": 18}, "score_size=18 does not match the 17x17 grid"),
    ({"q_size": 305}, "gives for q_size=305, crop_pad=1; set score_size=18"),
    ({"total_stride": 8}, "stride 16"),
    ({"backbone": "x" * 10 ** 6}, "unknown backbone kind"),
])
def test_bad_model_configs_are_refused_before_allocation(tmp_path, change, fragment):
    torch.manual_seed(0)
    net = STMTrackNet(small_config())
    sd = {k: v for k, v in net.state_dict().items()}
    cfg = dict(small_config().to_dict(), **change)
    p = tmp_path / "bad.pt"
    torch.save({"model_state_dict": sd, "model_config": cfg}, p)
    t0 = time.process_time()
    refused(p, fragment)
    assert time.process_time() - t0 < 5.0     # nothing large was built (CPU time, not a benchmark)


@pytest.mark.parametrize("q_size, crop_pad", [(100, 4), (127, 2), (160, 4), (289, 4), (301, 3)])
def test_inception_grid_formula_matches_the_layers(q_size, crop_pad):
    bb = inception.Inception3(ModelConfig(), False).eval()
    bb.crop_pad = crop_pad
    with torch.no_grad():
        got = bb(torch.zeros(1, 3, q_size, q_size)).shape[-1]
    assert inception.feature_size(q_size, crop_pad) == got


@pytest.mark.parametrize("q_size, crop_pad", [(63, 0), (127, 1), (289, 1), (305, 1), (300, 2)])
def test_small_grid_formula_matches_the_layers(q_size, crop_pad):
    cfg = small_config(q_size=q_size, crop_pad=crop_pad,
                       score_size=backbone_small.feature_size(q_size, crop_pad))
    bb = backbone_small.NanoBackbone(cfg).eval()
    with torch.no_grad():
        assert bb(torch.zeros(1, 3, q_size, q_size)).shape[-1] == cfg.score_size


# ---- tensors that are not plain weights -----------------------------------------------------
def _with(sd, key, value):
    out = dict(sd)
    out[key] = value
    return out


@pytest.mark.parametrize("make, fragment", [
    (lambda v: v.to_sparse(), "not plain tensors"),
    (lambda v: torch.empty(v.shape, device="meta"), "not plain tensors"),
    (lambda v: v.to(torch.int32), "wrong kind of number"),
    (lambda v: v.to(torch.complex64), "not plain tensors"),
    (lambda v: v > 0, "not plain tensors"),
])
def test_odd_tensors_are_refused_in_one_line(tiny_file, tmp_path, make, fragment):
    path, net = tiny_file
    sd = net.state_dict()
    key = "head.cls_score.conv.weight"
    p = tmp_path / "odd.pt"
    torch.save({"model_state_dict": _with(sd, key, make(sd[key])), "model_config": net.config.to_dict()}, p)
    refused(p, fragment)


def test_huge_key_names_give_a_short_message(tiny_file, tmp_path):
    path, net = tiny_file
    sd = _with(net.state_dict(), "k" * 10_000_000, torch.zeros(1))
    p = tmp_path / "longkey.pt"
    torch.save({"model_state_dict": sd, "model_config": net.config.to_dict()}, p)
    msg = refused(p, "1 unexpected")
    assert "kkkk..." in msg
    cfg = dict(net.config.to_dict(), **{"z" * 1_000_000: 1})
    torch.save({"model_state_dict": net.state_dict(), "model_config": cfg}, p)
    refused(p, "unknown keys")
