"""The research probes and proxy generators (research/): box decoding, JSON, the made folders,
on the bundled model and the demo clip."""
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from research import attention_response as ar
from research import label_response as lr
from research import make_far_targets as far
from research import make_paste_targets as paste
from research import paste as pasting
from research import scale_response as sr
from research.attention_probe import attention_response
from research.scale_probe import Probe, summarise
from stmtrack_ros.eval.metrics import rect_iou
from stmtrack_ros.model import STMTrackNet, default_checkpoint_path, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "stmtrack_ros" / "data" / "demo"


def _frames(n):
    cap = cv2.VideoCapture(str(DEMO / "bigbuckbunny_100.mp4"))
    out = [cap.read()[1] for _ in range(n)]
    cap.release()
    return out


def test_probe_boxes_move_with_the_image_and_follow_the_bunny():
    probe = Probe(load_checkpoint(default_checkpoint_path()).eval(), 4.0)
    box = np.array(json.loads((DEMO / "clip.json").read_text())["init_box_xywh"], float)
    f0, f1 = _frames(2)
    shift = (40, 24)  # whole pixels: every crop is the same, so the box moves by exactly this

    def padded(img):  # padded with its own mean colour: the crops' border colour stays put
        mean = [float(v) for v in img.reshape(-1, 3).mean(axis=0)]
        return cv2.copyMakeBorder(img, shift[1], 0, shift[0], 0, cv2.BORDER_CONSTANT, value=mean)

    moved = box + [shift[0], shift[1], 0, 0]
    with torch.inference_mode():
        for factor in (0.67, 1.0, 1.5):
            a = probe.predict(f1, box, probe.memory(f0, box), factor)
            b = probe.predict(padded(f1), moved, probe.memory(padded(f0), moved), factor)
            b_back = np.array(b) - [shift[0], shift[1], 0, 0]
            # 0.5 px: at x1.5 the crop reaches the border, whose colour (the frame mean) moves
            # a little with the uint8-rounded padding
            assert np.allclose(a, b_back, atol=0.5), (factor, a, b_back.tolist())
        # one frame later the bunny has hardly moved: the factor-1 box overlaps it
        assert rect_iou(probe.predict(f1, box, probe.memory(f0, box), 1.0), box)[0] > 0.5


def test_summary_and_cli_json(tmp_path, capsys):
    s = summarise([(0.8, 1.0, 1.1, 0.9), (0.4, 1.5, 1.4, 1.6), (0.6, 1.2, 1.0, 1.4)])
    assert s == {"pairs": 3, "mean_iou": 0.6, "sr50": 0.6667, "size_ratio_median": 1.2,
                 "w_ratio_median": 1.1, "h_ratio_median": 1.4}
    # a project-layout folder made of the demo clip's first frames (box constant: the probe
    # only needs a plausible ground truth)
    seq = tmp_path / "data" / "bunny"
    (seq / "img").mkdir(parents=True)
    box = json.loads((DEMO / "clip.json").read_text())["init_box_xywh"]
    for i, f in enumerate(_frames(5)):
        cv2.imwrite(str(seq / "img" / f"{i + 1:08d}.jpg"), f)
    (seq / "groundtruth.txt").write_text("\n".join(",".join(str(v) for v in box) for _ in range(5)) + "\n")
    out = tmp_path / "sr.json"
    res = sr.main(["--data", str(tmp_path / "data"), "--factors", "1,1.5", "--per-sequence", "3",
                   "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    assert res["factors"]["1.0"]["pairs"] == 3 and set(res["sequences"]) == {"bunny"}
    assert 0.0 <= res["factors"]["1.5"]["mean_iou"] <= 1.0
    # label-size probe: true labels give the factor-1 result; a bad spec is refused
    lab = sr.main(["--data", str(tmp_path / "data"), "--label-scales", "1x1,0.7x1.4",
                   "--per-sequence", "3", "--threads", "1"])
    assert lab["label_scales"]["1x1"] == res["factors"]["1.0"]
    assert lab["label_scales"]["0.7x1.4"]["pairs"] == 3
    # the bundled model's box branch reads frame 0 alone: frame t-1's label cannot move its box;
    # the same weights reading the whole memory (reg_first_frame 0) copy part of that label
    assert lab["label_scales"]["0.7x1.4"] == lab["label_scales"]["1x1"]
    net = load_checkpoint(default_checkpoint_path())
    whole = STMTrackNet(dataclasses.replace(net.config, reg_first_frame=0))
    whole.load_state_dict(net.state_dict())
    save_checkpoint(tmp_path / "whole.pt", whole)
    lab = sr.main(["--data", str(tmp_path / "data"), "--label-scales", "1x1,0.7x1.4",
                   "--per-sequence", "3", "--threads", "1", "--checkpoint", str(tmp_path / "whole.pt")])
    assert lab["label_scales"]["0.7x1.4"] != lab["label_scales"]["1x1"]  # the label reaches the box
    with pytest.raises(SystemExit):
        sr.main(["--data", str(tmp_path / "data"), "--label-scales", "0.7", "--threads", "1"])
    # several mis-sized memory frames (t-1 and t-4 of frames 0..7): fewer query frames qualify
    for i, f in enumerate(_frames(8)[5:], start=5):
        cv2.imwrite(str(seq / "img" / f"{i + 1:08d}.jpg"), f)
    (seq / "groundtruth.txt").write_text("\n".join(",".join(str(v) for v in box) for _ in range(8)) + "\n")
    two = sr.main(["--data", str(tmp_path / "data"), "--label-scales", "0.7x1.4", "--label-frames", "2",
                   "--per-sequence", "8", "--threads", "1"])
    assert two["label_frames"] == 2 and two["label_scales"]["0.7x1.4"]["pairs"] == 3  # t = 5, 6, 7
    with pytest.raises(SystemExit):
        sr.main(["--data", str(tmp_path / "data"), "--label-scales", "1x1", "--label-frames", "0"])


def _tiny_train_data(root: Path, n: int = 4) -> list:
    """A train_data-layout folder made of the demo clip: one still (boxes.csv) and one video
    (sequence_boxes.csv), the bunny's box on every frame. Returns that box."""
    box = json.loads((DEMO / "clip.json").read_text())["init_box_xywh"]
    frames = _frames(n)
    (root / "images" / "demo").mkdir(parents=True)
    (root / "sequences" / "demo" / "bunny").mkdir(parents=True)
    cv2.imwrite(str(root / "images" / "demo" / "still.jpg"), frames[0])
    h, w = frames[0].shape[:2]
    xywh = ",".join(str(v) for v in box)
    (root / "boxes.csv").write_text("image,width,height,x,y,w,h,class,source\n"
                                    f"images/demo/still.jpg,{w},{h},{xywh},bunny,demo\n")
    rows = ["sequence,frame_index,frame,image,track_id,x,y,w,h,class,source"]
    for i, f in enumerate(frames):
        rel = f"sequences/demo/bunny/{i:05d}.jpg"
        cv2.imwrite(str(root / rel), f)
        rows.append(f"demo/bunny,{i},{i:05d}.jpg,{rel},1,{xywh},bunny,demo")
    (root / "sequence_boxes.csv").write_text("\n".join(rows) + "\n")
    return box


def test_stills_probe_bins_the_box_and_finds_the_bunny(tmp_path):
    box = _tiny_train_data(tmp_path / "td")
    res = sr.main(["--train-data", str(tmp_path / "td"), "--stills", "--sources", "demo",
                   "--factors", "1,1.5", "--per-sequence", "5", "--threads", "1"])
    img = cv2.imread(str(tmp_path / "td" / "images" / "demo" / "still.jpg"))
    small = box[2] * box[3] / (img.shape[0] * img.shape[1]) < res["small_area_fraction"]
    hit, miss = ("small", "large") if small else ("large", "small")
    assert res["bins"][hit]["1.0"]["pairs"] == 1 and res["bins"][miss]["1.0"] == {"pairs": 0}
    # memory and query are the same image: at the true scale the box lands on the bunny
    assert res["bins"][hit]["1.0"]["mean_iou"] > 0.5
    assert "stills: demo" in res["source"]
    # by aspect: a tall, thin box (the bunny's left third) counts in "thin" only
    x, y, w, h = box
    csv = tmp_path / "td" / "boxes.csv"
    csv.write_text(csv.read_text().replace(",".join(str(v) for v in box),
                                           ",".join(str(v) for v in (x, y, w // 3, h))))
    asp = sr.main(["--train-data", str(tmp_path / "td"), "--stills", "--sources", "demo",
                   "--bin-by", "aspect", "--factors", "1", "--per-sequence", "5", "--threads", "1"])
    assert set(asp["bins"]) == {"thin", "square", "wide"} and asp["aspect_bins"]["wide"] == [2.2, None]
    assert [asp["bins"][k]["1.0"]["pairs"] for k in ("thin", "square", "wide")] == [1, 0, 0]
    assert asp["source"].endswith("by aspect)")


def test_far_targets_shrink_frames_and_boxes_into_a_got10k_folder(tmp_path):
    box = _tiny_train_data(tmp_path / "td", n=3)
    out = tmp_path / "far"
    assert far.main(["--train-data", str(tmp_path / "td"), "--only", "demo/bunny",
                     "--factor", "4", "--out", str(out)]) == 0
    assert far.main(["--train-data", str(tmp_path / "td"), "--only", "demo/nope",
                     "--factor", "4", "--out", str(out)]) == 2  # unknown sequence: refused
    src = cv2.imread(str(tmp_path / "td" / "sequences" / "demo" / "bunny" / "00000.jpg"))
    from stmtrack_ros.datasets import load_dataset
    (seq,) = load_dataset(out)  # read back by the evaluation toolkit (GOT-10k layout)
    assert len(seq.frames) == 3
    small = cv2.imread(str(seq.frames[0]))
    assert small.shape[:2] == (round(src.shape[0] / 4), round(src.shape[1] / 4))
    assert np.allclose(seq.gt, np.tile(np.array(box) / 4, (3, 1)), atol=1e-3)
    # several factors, a whole source: one folder, one prefixed copy per factor
    both = tmp_path / "far23"
    assert far.main(["--train-data", str(tmp_path / "td"), "--source", "demo",
                     "--factor", "2", "3", "--out", str(both)]) == 0
    seqs = {s.name: s for s in load_dataset(both)}
    assert sorted(seqs) == ["f2_demo_bunny_1", "f3_demo_bunny_1"], sorted(seqs)
    assert np.allclose(seqs["f3_demo_bunny_1"].gt[0], np.array(box) / 3, atol=1e-3)
    assert far.main(["--train-data", str(tmp_path / "td"), "--source", "nope",
                     "--out", str(both)]) == 2


def test_paste_targets_cross_the_target_mid_video_and_keep_the_ground_truth(tmp_path):
    _tiny_train_data(tmp_path / "td", n=6)
    assert far.main(["--train-data", str(tmp_path / "td"), "--source", "demo", "--factor", "2", "3",
                     "--out", str(tmp_path / "far")]) == 0
    out = tmp_path / "paste"
    assert paste.main(["--src", str(tmp_path / "far"), "--out", str(out)]) == 0
    from stmtrack_ros.datasets import load_dataset
    src = {s.name: s for s in load_dataset(tmp_path / "far")}
    made = {s.name: s for s in load_dataset(out)}
    assert sorted(made) == sorted(f"{n}_{k}" for n in src for k in ("other", "twin"))
    meta = json.loads((out / "paste_targets.json").read_text())["sequences"]
    assert meta["f2_demo_bunny_1_other"]["distractor"] == "f3_demo_bunny_1"
    for name, seq in made.items():
        orig = src[meta[name]["source"]]
        assert np.array_equal(seq.gt, orig.gt)  # the target is still the real one
        donor = src[meta[name]["distractor"]]
        patch = paste.first_patch(donor, float(orig.gt[0, 2] * orig.gt[0, 3]))
        centres = paste.path(orig, patch.shape[:2], meta[name]["direction"] == "left to right")
        mid = len(orig.frames) // 2
        assert np.allclose(centres[mid], orig.gt[mid, :2] + orig.gt[mid, 2:] / 2)  # crosses it
        assert centres[0][0] + patch.shape[1] / 2 <= 0 or centres[0][1] + patch.shape[0] / 2 <= 0
        # on the way there the written frame shows the patch where the path puts it
        k = 2
        img = cv2.imread(str(seq.frames[k])).astype(np.float32)
        ph, pw = patch.shape[:2]
        x0, y0 = int(round(centres[k][0] - pw / 2)), int(round(centres[k][1] - ph / 2))
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + pw, img.shape[1]), min(y0 + ph, img.shape[0])
        assert xb - xa > 4 and yb - ya > 4
        shown = img[ya:yb, xa:xb]
        want = patch[ya - y0:yb - y0, xa - x0:xb - x0].astype(np.float32)
        before = cv2.imread(str(orig.frames[k])).astype(np.float32)[ya:yb, xa:xb]
        assert np.abs(shown - want).mean() < 6 < np.abs(before - want).mean()
    assert paste.main(["--src", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_paste_at_copies_clips_and_blends():
    grey = 120
    img = np.full((50, 60, 3), grey, np.uint8)
    patch = np.zeros((10, 10, 3), np.uint8)
    out = pasting.paste_at(img, patch, np.ones((10, 10), np.float32), (2, 2))  # half outside
    assert (img == grey).all()  # the input is not written
    assert (out[:7, :7] == 0).all() and (out[8:, 8:] == grey).all()
    half = pasting.paste_at(img, patch, np.full((10, 10), 0.5, np.float32), (30, 30))
    assert (half[26:34, 26:34] == grey // 2).all()


def test_label_probe_maps_match_the_trackers_and_cli_json(tmp_path):
    from stmtrack_ros.tracker.crop import box_in_centred_crop as _in_crop
    from stmtrack_ros.tracker.crop import box_label_map, fg_bg_map
    # the probe's map of box A in A's own crop is the tracker's memory label map (to a pixel)
    s, r = 289, 1.7
    a = np.array([100.0, 80.0, 40.0, 30.0])
    in_a = _in_crop(a, a[:2] + a[2:] / 2, r, s)
    assert np.abs(box_label_map(s, in_a) - fg_bg_map(s, a[2] * r, a[3] * r)).sum() <= 2 * (a[2] + a[3]) * r
    # a box 20 frame px to the right sits 20 r crop px to the right
    b = a + [20, 0, 0, 0]
    assert np.allclose(_in_crop(b, a[:2] + a[2:] / 2, r, s), in_a + [20 * r, 0, 20 * r, 0])

    box = _tiny_train_data(tmp_path / "td")
    # a second box beside the bunny on the same still
    other = [box[0] + box[2] + 10, box[1], box[2], box[3]]
    with open(tmp_path / "td" / "boxes.csv", "a") as f:
        f.write("images/demo/still.jpg,0,0," + ",".join(str(v) for v in other) + ",thing,demo\n")
    out = tmp_path / "lr.json"
    res = lr.main(["--train-data", str(tmp_path / "td"), "--sources", "demo", "--pairs", "3",
                   "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    assert res["pairs"] == 1  # one image, one usable pair
    assert 0.0 <= res["peak_on_b_when_b_labelled"] <= 1.0 and -1.0 <= res["score_corr_mean"] <= 1.0
    assert res["score_change_mean"] >= 0.0
    assert res["distractor_centred_peak_on_target"] in (0.0, 1.0)  # one pair: hit or miss


def test_attention_response_reads_the_label_through_each_kind_of_key(tmp_path):
    import train_synth
    from stmtrack_ros.train.training_set import load_manifest_sequences
    train_synth.write_train_data(tmp_path / "td", n_img=1, n_seq=2, n=6)
    out = tmp_path / "ar.json"
    res = ar.main(["--train-data", str(tmp_path / "td"), "--sources", "vids", "--pairs", "3",
                   "--threads", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == res
    # the bundled model has Siamese keys: its own keys are the query-path keys, the same read
    assert res["pairs"] == 3 and res["siamese_keys"] == 1
    assert res["fg_read_target_own_keys"] == res["fg_read_target_query_path_keys"]
    assert res["fg_read_background_own_keys"] == res["fg_read_background_query_path_keys"]
    # the same weights with the official keys (the labelled memory features): two reads
    net = load_checkpoint(default_checkpoint_path())
    off = STMTrackNet(dataclasses.replace(net.config, label_readout=0, siamese_keys=0)).eval()
    state = off.state_dict()
    state.update({k: v for k, v in net.state_dict().items() if state[k].shape == v.shape})
    off.load_state_dict(state)
    got = attention_response(off, load_manifest_sequences(tmp_path / "td"), pairs=3)
    assert got["pairs"] == 3 and got["siamese_keys"] == 0
    for key in ("target_own", "background_own", "target_query_path", "background_query_path"):
        assert 0.0 <= got[f"fg_read_{key}_keys"] <= 1.0
    assert 0.0 <= got["attention_entropy_own_keys"] <= got["attention_entropy_uniform"]
    assert got["fg_read_target_own_keys"] != got["fg_read_target_query_path_keys"]


TINY_MODEL = dict(backbone="nanotrack_v1", q_size=65, total_stride=16, score_size=5, crop_pad=0,
                  backbone_channels=48, neck_channels=16, head_width=16, head_convs=2)


def test_checkpoint_probes_log_the_scale_probe_on_the_videos(tmp_path):
    import train_synth
    from research.checkpoint_probes import probe_scores
    from stmtrack_ros.model import ModelConfig
    train_synth.write_train_data(tmp_path)
    torch.manual_seed(0)
    net = STMTrackNet(ModelConfig(**TINY_MODEL)).train()
    val = {"datasets": [{"layout": "train_data_sequences", "root": str(tmp_path), "only": ["vids/seq1"]}],
           "max_sequences": 3, "max_frames": 5, "hp": "got10k"}
    # a size ratio and a one-step IoU per factor, on the videos training validation tracks
    scores = probe_scores(net, val, scale_factors=[0.67, 1.5])
    assert set(scores) == {"scale_x0.67", "scale_x1.5", "probe_iou_x0.67", "probe_iou_x1.5"}
    assert scores["scale_x0.67"] > 0 and scores["scale_x1.5"] > 0
    assert all(0.0 <= scores[k] <= 1.0 for k in ("probe_iou_x0.67", "probe_iou_x1.5"))
    assert net.training  # the training model is left as it was


def test_checkpoint_probes_log_the_label_probe_on_stills(tmp_path, capsys):
    from research import checkpoint_probes
    from stmtrack_ros.model import ModelConfig
    # two textured stills, each with two 30 px objects 42 px apart: one usable pair per image
    # for a 97-px crop (its 16-px cells need the centres 2 cells apart inside one crop)
    rows = ["image,width,height,x,y,w,h,class,source"]
    for k in range(2):
        img = np.random.default_rng(k).integers(0, 255, (200, 200, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"s{k}.jpg"), img)
        rows += [f"s{k}.jpg,200,200,40,40,30,30,a,src", f"s{k}.jpg,200,200,82,40,30,30,b,src"]
    (tmp_path / "boxes.csv").write_text("\n".join(rows) + "\n")
    torch.manual_seed(0)
    net = STMTrackNet(ModelConfig(backbone="nanotrack_v1", q_size=97, total_stride=16, score_size=5,
                                  crop_pad=1, backbone_channels=48, neck_channels=16, head_width=16,
                                  head_convs=2)).train()
    for m in net.head.modules():  # visible score maps: the training init makes convs ~1e-4
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.2)
    val = {"datasets": [], "max_sequences": 1, "max_frames": 5, "hp": "got10k"}
    scores = checkpoint_probes.probe_scores(net, val, label_probe={"root": str(tmp_path), "sources": ["src"],
                                                                   "pairs": 5})
    assert set(scores) == {"memory_unrelated_corr", "label_swap_corr", "distractor_hits"}
    assert scores["distractor_hits"] in (0.0, 0.5, 1.0)  # two pairs, each a hit or a miss
    assert all(-1.0 <= scores[k] <= 1.0 for k in ("memory_unrelated_corr", "label_swap_corr"))
    assert net.training
    # the command line: one JSON line per checkpoint, the same numbers
    save_checkpoint(tmp_path / "a.pt", net)
    assert checkpoint_probes.main([str(tmp_path / "a.pt"), "--label-root", str(tmp_path),
                                   "--label-sources", "src", "--pairs", "5"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line == {"checkpoint": str(tmp_path / "a.pt"), **scores}
    # a bad checkpoint: one line on stderr, exit 2
    (tmp_path / "bad.pt").write_bytes(b"junk")
    assert checkpoint_probes.main([str(tmp_path / "bad.pt"), "--label-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("checkpoint_probes: ") and "\n" not in err
