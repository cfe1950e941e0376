"""ONNX export (`stmtrack export`, model/export.py): the files, the manifest, and ONNX Runtime
outputs against torch on real crops (the parity fixture's Crossing crops), for the bundled small
model and (slow) the official network with the portable seed-1 weights."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import TEST_DATA
from stmtrack_ros import cli
from stmtrack_ros.model import default_checkpoint_path, export, load_checkpoint
from stmtrack_ros.model.export import MANIFEST_NAME, ExportError, read_manifest
from stmtrack_ros.model.head import cell_window

PASSES = ("memorize", "query_features", "read_memory", "first_frame_score")


@pytest.fixture(scope="module")
def crops():
    fx = np.load(TEST_DATA / "parity" / "forward_seed1_Crossing.npz")
    return {"im_m": fx["in_im_m"].astype(np.float32), "fg_m": fx["in_fg_m"].astype(np.float32),
            "im_q": fx["in_im_q"].astype(np.float32)}


@pytest.fixture(scope="module")
def small_net():
    return load_checkpoint(default_checkpoint_path())


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx_small")
    assert cli.main(["export", "--out", str(out)]) == 0
    return out


def sessions(folder):
    man = read_manifest(folder)
    return {n: ort.InferenceSession(str(folder / p["file"]), providers=["CPUExecutionProvider"])
            for n, p in man["passes"].items()}


def rel_err(got, ref) -> float:
    ref = np.asarray(ref)
    return float(np.abs(np.asarray(got) - ref).max() / max(float(np.abs(ref).max()), 1e-30))


def torch_passes(net, crops, frames):
    """Memory of `frames` fixture crops, query features and the memory read, with torch."""
    with torch.inference_mode():
        mem = [net.memorize(torch.from_numpy(crops["im_m"][k:k + 1]),
                            torch.from_numpy(crops["fg_m"][k:k + 1])) for k in frames]
        fq = net.query_features(torch.from_numpy(crops["im_q"]))
    return [m.numpy() for m in mem], fq.numpy()


def test_export_writes_checked_files_and_a_manifest(small_dir, small_net):
    man = json.loads((small_dir / MANIFEST_NAME).read_text())
    assert man["opset"] >= 17 and man["torch"] == torch.__version__
    assert man["checkpoint"]["sha256"] == export.file_sha256(default_checkpoint_path())
    assert man["weights_sha256"] == export.weights_sha256(small_net)
    assert man["model_config"] == small_net.config.to_dict()
    assert set(man["passes"]) == set(PASSES)
    cfg = small_net.config
    for name, p in man["passes"].items():
        path = small_dir / p["file"]
        onnx.checker.check_model(str(path))
        model = onnx.load(str(path))
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == man["opset"]
        assert [i.name for i in model.graph.input] == [i["name"] for i in p["inputs"]], name
        assert all(e["dtype"] == "float32" for e in p["inputs"] + p["outputs"])
        assert p["sha256"] == export.file_sha256(path)
    read = man["passes"]["read_memory"]
    assert read["inputs"][1]["shape"] == [1, cfg.memory_channels, "T", cfg.score_size, cfg.score_size]
    assert read["outputs"][1]["shape"] == [1, cfg.num_positions, 4]
    # siamese keys: the memory pass takes the query features of the same crop
    assert [i["name"] for i in man["passes"]["memorize"]["inputs"]] == ["images", "label_maps", "keys"]
    assert man["memory_frames"]["min"] == 1 and man["memory_frames"]["max"] >= 6
    cmds = export.trtexec_commands(man, small_dir)
    assert len(cmds) == 4 and all("--fp16" in c for c in cmds)
    assert f"--maxShapes=memory:1x{cfg.memory_channels}x{man['memory_frames']['max']}x17x17" in cmds[2]


def test_onnxruntime_equals_torch_on_the_bundled_model(small_dir, small_net, crops):
    sess = sessions(small_dir)
    mem, fq = torch_passes(small_net, crops, range(6))
    got = sess["query_features"].run(None, {"query": crops["im_q"]})[0]
    assert rel_err(got, fq) <= 1e-4
    ort_mem = []
    for k in range(6):
        with torch.inference_mode():
            keys = small_net.query_features(torch.from_numpy(crops["im_m"][k:k + 1])).numpy()
        out = sess["memorize"].run(None, {"images": crops["im_m"][k:k + 1],
                                          "label_maps": crops["fg_m"][k:k + 1], "keys": keys})[0]
        assert out.shape == mem[k].shape
        assert rel_err(out, mem[k]) <= 1e-4, k
        ort_mem.append(out)
    for t in (1, 2, 6, 8):            # any T: 8 repeats two frames, beyond the tracker's 6
        memory = np.concatenate([mem[k % 6] for k in range(t)], axis=2)
        with torch.inference_mode():
            ref = small_net.read_memory(torch.from_numpy(fq), torch.from_numpy(memory))
        out = sess["read_memory"].run(None, {"features": fq, "memory": memory})
        for name, o, r in zip(("score", "boxes", "cls_prob", "ctr_prob"), out, ref, strict=True):
            assert o.shape == tuple(r.shape), (t, name)
            assert rel_err(o, r.numpy()) <= 1e-4, (t, name)
    # the first frame is tracked: the best cell is where the target is
    assert int(np.argmax(out[0][0, :, 0])) == int(torch.argmax(ref[0][0, :, 0]))


def test_first_frame_score_on_a_window_and_on_the_grid(small_dir, small_net, crops):
    sess = sessions(small_dir)["first_frame_score"]
    mem, fq = torch_passes(small_net, crops, [0])
    s, r = small_net.config.score_size, small_net.head.cls_ctr.radius
    for cell in (0, s * s // 2, 4 * s + 13, s * s - 1):     # corner, centre, near an edge, corner
        (r0, r1, c0, c1), k = cell_window(cell, s, r)
        window = np.ascontiguousarray(fq[:, :, r0:r1, c0:c1])
        out = sess.run(None, {"features": window, "memory0": mem[0]})[0]
        assert out.shape == (1, (r1 - r0) * (c1 - c0), 1)
        with torch.inference_mode():
            ref = float(small_net.first_frame_score(torch.from_numpy(fq), torch.from_numpy(mem[0]), cell))
        assert abs(float(out[0, k, 0]) - ref) <= 1e-4 * max(abs(ref), 1e-3), cell


def test_unusable_folders_are_refused_with_one_line(tmp_path, small_dir, small_net):
    with pytest.raises(ExportError, match="stmtrack export") as e:
        read_manifest(tmp_path)
    assert "\n" not in str(e.value)
    other = load_checkpoint(default_checkpoint_path())
    with torch.no_grad():
        other.head.bi.add_(0.5)
    with pytest.raises(ExportError, match="other weights"):
        read_manifest(small_dir, other)
    assert read_manifest(small_dir, small_net)["opset"] >= 17
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MANIFEST_NAME).write_text((small_dir / MANIFEST_NAME).read_text())
    with pytest.raises(ExportError, match="lacks memorize.onnx"):
        read_manifest(broken)


def test_cli_refuses_a_missing_checkpoint_and_an_old_opset(tmp_path, capsys):
    assert cli.main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stmtrack export: error: checkpoint not found") and "\n" not in err
    assert cli.main(["export", "--opset", "16", "--out", str(tmp_path / "o")]) == 2
    assert "opset 16" in capsys.readouterr().err
    assert not (tmp_path / "o" / MANIFEST_NAME).exists()


@pytest.mark.slow
def test_onnxruntime_equals_torch_and_official_on_the_official_network(tmp_path, portable_seed1_checkpoint,
                                                                         crops):
    """84 GFLOP per frame: one memory frame and the query against torch, then the official
    outputs of the six-frame read (the fixture's score and boxes)."""
    out = tmp_path / "onnx_official"
    assert cli.main(["export", "--checkpoint", str(portable_seed1_checkpoint), "--out", str(out)]) == 0
    net = load_checkpoint(portable_seed1_checkpoint)
    man = read_manifest(out, net)
    assert [i["name"] for i in man["passes"]["memorize"]["inputs"]] == ["images", "label_maps"]
    sess = sessions(out)
    mem, fq = torch_passes(net, crops, [0])
    assert rel_err(sess["query_features"].run(None, {"query": crops["im_q"]})[0], fq) <= 1e-4
    ort_mem = [sess["memorize"].run(None, {"images": crops["im_m"][k:k + 1],
                                           "label_maps": crops["fg_m"][k:k + 1]})[0] for k in range(6)]
    assert rel_err(ort_mem[0], mem[0]) <= 1e-4
    score, boxes, cls_prob, ctr_prob = sess["read_memory"].run(
        None, {"features": fq, "memory": np.concatenate(ort_mem, axis=2)})
    fx = np.load(TEST_DATA / "parity" / "forward_seed1_Crossing.npz")
    assert np.abs(score[0, :, 0] - fx["score"]).max() <= 5e-5      # test_model_parity's bounds
    assert np.abs(boxes[0] - fx["bbox"]).max() <= 1e-3
    assert int(score[0, :, 0].argmax()) == int(fx["score"].argmax()) == 128
    np.testing.assert_allclose(score, cls_prob * ctr_prob, rtol=1e-5)


def test_the_memory_read_drops_subnormal_weights_and_the_outputs_keep_every_bit(small_net, crops,
                                                                                 monkeypatch):
    """head.READ_LOGIT_RANGE: on trained features part of the softmax weights are subnormal
    (100x slower arithmetic); the read gives them weight 0. The read-out moves by no more than
    the dropped weights carried (< 1e-27 of mass; a fg fraction of 1e-29 becomes 0), the
    network's outputs not by one bit."""
    import math

    from stmtrack_ros.model import head
    mem, fq = torch_passes(small_net, crops, range(6))
    fm, q = torch.from_numpy(np.concatenate(mem, axis=2)), torch.from_numpy(fq)
    v = small_net.config.value_channels
    flat = fm.reshape(1, fm.shape[1], -1)
    sim = torch.bmm(flat[:, v:].transpose(1, 2), q.reshape(1, q.shape[1], -1)) / math.sqrt(q.shape[1])
    plain = torch.softmax(sim, dim=1)
    assert int((sim < sim.amax(dim=1, keepdim=True) - head.READ_LOGIT_RANGE).sum()) > 1000
    assert bool(((plain < torch.finfo(torch.float32).tiny) & (plain > 0)).any())   # subnormals
    values = flat[:, :v]
    ref_read = torch.bmm(values, plain).reshape(1, v, *q.shape[2:])
    # the read may move by what the dropped weights carried (their mass times the largest
    # value) plus float32 rounding of the kept sum: 1e-28 on an Intel Xeon, 2e-28 on an AMD EPYC
    dropped = (plain * (sim < sim.amax(dim=1, keepdim=True) - head.READ_LOGIT_RANGE)).sum(dim=1)
    eps = torch.finfo(torch.float32).eps
    bound = (values.abs().amax(dim=2, keepdim=True) * dropped[:, None] * 1.01
             + eps * torch.bmm(values.abs(), plain)).reshape(ref_read.shape)
    assert float(dropped.max()) < 1e-27
    assert bool(((head.memory_read(fm, q, v) - ref_read).abs() <= bound).all())
    with torch.inference_mode():
        got = small_net.read_memory(q, fm)
        monkeypatch.setattr(head, "READ_LOGIT_RANGE", float("inf"))
        ref = small_net.read_memory(q, fm)
    assert all(torch.equal(a, b) for a, b in zip(got, ref))
