"""Image message <-> BGR conversion: every supported encoding exactly, padded rows, big-endian
mono16, compressed JPEG/PNG, and a clear error for each kind of bad message."""
import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from stmtrack_ros.node import convert  # noqa: E402
from stmtrack_ros.node.convert import (  # noqa: E402
    ImageConversionError,
    bgr_to_compressed,
    bgr_to_image,
    compressed_to_bgr,
    image_to_bgr,
    msg_to_bgr,
)


@pytest.fixture
def bgr():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)


def gray_of(bgr):
    import cv2
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "bgra8", "rgba8"])
def test_colour_encodings_round_trip_exactly(bgr, encoding):
    msg = bgr_to_image(bgr, encoding)
    assert msg.encoding == encoding and msg.step == bgr.shape[1] * len(encoding.rstrip("8"))
    np.testing.assert_array_equal(image_to_bgr(msg, use_cv_bridge=False), bgr)


@pytest.mark.parametrize("encoding", ["mono8", "mono16"])
def test_mono_encodings_give_grey_bgr(bgr, encoding):
    out = image_to_bgr(bgr_to_image(bgr, encoding), use_cv_bridge=False)
    g = gray_of(bgr)
    assert out.shape == bgr.shape and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_rgb8_channel_order_is_swapped():
    msg = Image(height=1, width=1, encoding="rgb8", step=3, data=bytes([10, 20, 30]))
    assert image_to_bgr(msg, use_cv_bridge=False).tolist() == [[[30, 20, 10]]]


def test_padded_rows_and_big_endian_mono16():
    h, w, step = 3, 5, 16  # 10 bytes of pixels + 6 padding bytes per row
    vals = (np.arange(h * w, dtype=np.uint16).reshape(h, w) * 1000)
    rows = np.zeros((h, step), np.uint8)
    rows[:, :2 * w] = vals.astype(">u2").view(np.uint8).reshape(h, 2 * w)
    msg = Image(height=h, width=w, encoding="mono16", is_bigendian=1, step=step,
                data=rows.tobytes())
    out = image_to_bgr(msg, use_cv_bridge=False)
    np.testing.assert_array_equal(out[..., 0], (vals >> 8).astype(np.uint8))
    stretched = image_to_bgr(msg, mono16_scaling="minmax", use_cv_bridge=False)
    assert stretched[..., 0].min() == 0 and stretched[..., 0].max() == 255


def test_padded_colour_rows(bgr):
    h, w = bgr.shape[:2]
    step = w * 3 + 7
    rows = np.full((h, step), 99, np.uint8)
    rows[:, :w * 3] = bgr.reshape(h, -1)
    msg = Image(height=h, width=w, encoding="bgr8", step=step, data=rows.tobytes())
    np.testing.assert_array_equal(image_to_bgr(msg, use_cv_bridge=False), bgr)


def test_compressed_png_is_lossless_and_jpeg_close(bgr):
    png = bgr_to_compressed(bgr, "png")
    assert "png" in png.format
    np.testing.assert_array_equal(compressed_to_bgr(png), bgr)
    smooth = np.tile(np.linspace(0, 255, 53, dtype=np.uint8)[None, :, None], (37, 1, 3))
    jpg = bgr_to_compressed(smooth, "jpeg", quality=95)
    out = msg_to_bgr(jpg)
    assert out.shape == smooth.shape and np.abs(out.astype(int) - smooth).mean() < 3


@pytest.mark.parametrize("make, needle", [
    (lambda: Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32)), "unsupported encoding"),
    (lambda: Image(height=4, width=4, encoding="bgr8", step=8, data=bytes(48)), "step 8 <"),
    (lambda: Image(height=4, width=4, encoding="bgr8", step=12, data=bytes(40)), "truncated"),
    (lambda: Image(height=0, width=0, encoding="bgr8", step=0, data=b""), "empty image"),
    (lambda: Image(height=2, width=2, encoding="mono16", step=3, data=bytes(6)), "step 3 <"),
    (lambda: CompressedImage(format="jpeg", data=b""), "empty CompressedImage"),
    (lambda: CompressedImage(format="jpeg", data=b"\xff\xd8garbage" * 10), "neither JPEG nor PNG"),
    (lambda: CompressedImage(format="jpeg", data=b"\xff\xd8\xff garbage" * 10), "corrupt JPEG"),
    (lambda: CompressedImage(format="16UC1; compressedDepth", data=b"x"), "unsupported compressed"),
    (lambda: CompressedImage(format="bgr8; tiff compressed bgr8", data=b"x"), "unsupported compressed"),
    (lambda: CompressedImage(format="png16", data=b"x"), "unsupported compressed"),
])
def test_bad_messages_raise_one_clear_error(make, needle):
    with pytest.raises(ImageConversionError, match=needle) as e:
        msg_to_bgr(make())
    assert "\n" not in str(e.value)


def test_truncated_jpeg_is_refused(bgr):
    data = bytes(bgr_to_compressed(bgr, "jpeg").data)
    msg = CompressedImage(format="jpeg", data=data[:20])
    with pytest.raises(ImageConversionError):
        compressed_to_bgr(msg)


def test_track_fields_idle_and_result():
    from stmtrack_ros.tracker import TrackResult, TrackState
    idle = convert.track_fields(None, track_id=0, image_wh=(640, 360))
    assert idle["state"] == 0 and idle["confidence"] == 0.0 and idle["width"] == 0.0
    r = TrackResult(box=(1.5, 2.5, 30.0, 40.0), confidence=0.75, state=TrackState.LOST,
                    frame_index=7, memory_frames=(0, 3, 6))
    f = convert.track_fields(r, track_id=3, image_wh=(640, 360), latency_ms=12.5)
    assert (f["x"], f["y"], f["width"], f["height"]) == (1.5, 2.5, 30.0, 40.0)
    assert (f["state"], f["track_id"], f["frame_index"], f["memory_frames"]) == (2, 3, 7, 3)
    assert (f["image_width"], f["image_height"], f["latency_ms"]) == (640, 360, 12.5)
