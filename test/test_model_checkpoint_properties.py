"""Property tests of checkpoint loading (issue #18): random model-config values and corrupted
bytes of a small saved model give either a working network or one CheckpointError line of at
most MAX_MESSAGE_CHARS, never another exception; with a .sha256 beside the file every change
is refused. A network that loads still tracks with only documented outcomes."""
import math
import shutil
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stmtrack_ros.model import CheckpointError, STMTrackNet, load_checkpoint
from stmtrack_ros.model.backbone_small import small_config
from stmtrack_ros.model.checkpoint import MAX_MESSAGE_CHARS, save_checkpoint, write_sha256
from stmtrack_ros.model.config import ModelConfig
from stmtrack_ros.tracker import Tracker, TrackerInputError, TrackerParams
from tracker_support import SQUARE_BOX, one_thread, square_frame  # noqa: F401

CONFIG = small_config(q_size=127, score_size=6, neck_channels=8, head_width=8, head_convs=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    net = STMTrackNet(CONFIG).eval()
    path = save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pt", net)
    return path, path.read_bytes(), net


def load_or_refuse(path, **kw):
    """The loaded network, or None after a CheckpointError that is one short line."""
    try:
        return load_checkpoint(path, **kw)
    except CheckpointError as e:
        msg = str(e)
        assert "\n" not in msg and 0 < len(msg) <= MAX_MESSAGE_CHARS, msg
        return None


def tracks(net):
    """One init and two updates: only documented outcomes, no numpy RuntimeWarning."""
    tr = Tracker(net, TrackerParams(backend="torch", optimize=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        tr.init(square_frame(0), SQUARE_BOX)
        for t in (1, 2):
            try:
                r = tr.update(square_frame(t))
            except TrackerInputError:
                continue
            assert all(math.isfinite(v) for v in r.box) and 0.0 <= r.confidence <= 1.0


FIELDS = [f for f in CONFIG.to_dict()]
odd_values = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 5, 6, 7, 8, 16, 17, 48, 127, 289, 305, 10 ** 6, 2 ** 63, -2 ** 63]),
    st.integers(-10 ** 30, 10 ** 30), st.booleans(), st.none(), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(["nanotrack_v1", "inception_v3", "x" * 5000]),
    st.lists(st.integers(), max_size=3))


@pytest.mark.slow
@settings(max_examples=100)
@given(changes=st.dictionaries(st.sampled_from(FIELDS + ["unknown_key", "x" * 300]), odd_values,
                               min_size=1, max_size=4))
def test_random_config_values(saved, tmp_path_factory, changes):
    path, _, net = saved
    cfg = dict(CONFIG.to_dict(), **changes)
    p = tmp_path_factory.getbasetemp() / "cfg.pt"
    torch.save({"model_state_dict": net.state_dict(), "model_config": cfg}, p)
    loaded = load_or_refuse(p)
    if loaded is not None:                 # only configs of the same network can load
        assert loaded.config == ModelConfig.from_dict(cfg)
        assert set(loaded.state_dict()) == set(net.state_dict())


@st.composite
def corruptions(draw, size):
    kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert"]))
    pos = st.integers(0, size - 1)
    if kind == "flip":
        return kind, [(draw(pos), 1 << draw(st.integers(0, 7))) for _ in range(draw(st.integers(1, 4)))]
    if kind == "overwrite":
        return kind, (draw(pos), draw(st.binary(min_size=1, max_size=64)))
    if kind == "truncate":
        return kind, draw(pos)
    return kind, (draw(pos), draw(st.binary(min_size=1, max_size=64)))


def corrupt(data: bytes, how) -> bytes:
    kind, arg = how
    out = bytearray(data)
    if kind == "flip":
        for p, bit in arg:
            out[p] ^= bit
    elif kind == "overwrite":
        p, chunk = arg
        out[p:p + len(chunk)] = chunk
    elif kind == "truncate":
        del out[arg:]
    else:
        p, chunk = arg
        out[p:p] = chunk
    return bytes(out)


@settings(max_examples=150)
@given(data=st.data())
def test_corrupted_bytes(saved, tmp_path_factory, data):
    path, raw, _ = saved
    how = data.draw(corruptions(len(raw)))
    bad = corrupt(raw, how)
    folder = tmp_path_factory.getbasetemp()
    p = folder / "corrupt.pt"
    p.write_bytes(bad)
    net = load_or_refuse(p)
    if net is not None:
        tracks(net)
    # the same bytes beside the digest of the original: refused unless unchanged
    d = folder / "digest"
    d.mkdir(exist_ok=True)
    shutil.copy(path, d / "tiny.pt")
    write_sha256(d / "tiny.pt")
    (d / "tiny.pt").write_bytes(bad)
    assert (load_or_refuse(d / "tiny.pt") is None) == (bad != raw)
