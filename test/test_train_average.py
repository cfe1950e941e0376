"""`stmtrack average`: the weighted element-wise mean of checkpoints of one model."""
import pytest
import torch

from stmtrack_ros.cli import main
from stmtrack_ros.model import load_checkpoint
from stmtrack_ros.model.checkpoint import CheckpointError, save_checkpoint
from stmtrack_ros.train.average import average_checkpoints
from tracker_support import tiny_net


def _two(tmp_path):
    a, b = tiny_net(seed=0), tiny_net(seed=1)
    with torch.no_grad():  # distinct BatchNorm statistics too
        for i, net in enumerate((a, b)):
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.fill_(float(i))
                    m.num_batches_tracked.fill_(10 + i)
    return save_checkpoint(tmp_path / "a.pt", a), save_checkpoint(tmp_path / "b.pt", b), a, b


def test_the_mean_of_two_checkpoints(tmp_path):
    pa, pb, a, b = _two(tmp_path)
    sa, sb = a.state_dict(), b.state_dict()
    for weights, wa in ((None, 0.5), ([3, 1], 0.75)):
        got = average_checkpoints([pa, pb], weights).state_dict()
        for name, v in got.items():
            if v.is_floating_point():
                assert torch.allclose(v, wa * sa[name] + (1 - wa) * sb[name], atol=1e-7), name
            else:
                assert torch.equal(v, sa[name]), name  # counters: the first file's
    bn = next(k for k in got if k.endswith("running_mean"))
    assert torch.allclose(got[bn], torch.full_like(got[bn], 0.25))


def test_the_command_writes_a_loadable_checkpoint_and_refuses_mixed_models(tmp_path, capsys):
    pa, pb, a, b = _two(tmp_path)
    out = tmp_path / "soup.pt"
    assert main(["average", str(pa), str(pb), "--out", str(out)]) == 0
    net = load_checkpoint(out)
    assert net.config == a.config
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert raw["averaged_from"] == [str(pa), str(pb)]
    other = save_checkpoint(tmp_path / "c.pt", tiny_net(seed=0, reg_first_frame=0))
    assert main(["average", str(pa), str(other), "--out", str(tmp_path / "x.pt")]) == 2
    assert "another model config" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(CheckpointError, match="numbers >= 0"):
        average_checkpoints([pa, pb], [1.0, -1.0])
