"""Property tests of message -> frame conversion (hypothesis): whatever a camera or an attacker
sends as sensor_msgs/Image or CompressedImage, msg_to_bgr returns a uint8 H x W x 3 frame of
the message's size or raises ImageConversionError with one line, never anything else, and
never decodes a frame over max_image_pixels (issue #18: float HDR/PFM/TIFF labelled "png"
decoded to float32; a 61 KiB PNG decoded to 183 MiB)."""
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("sensor_msgs.msg")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from stmtrack_ros.node.convert import COMPRESSED_TARGETS, ENCODINGS, ImageConversionError, msg_to_bgr  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL_LIMIT = 64 * 64  # max_pixels in these tests: "too large" is cheap to reach


def _convert(msg, max_pixels=SMALL_LIMIT):
    """msg_to_bgr's result, or None when it refused with a one-line ImageConversionError."""
    try:
        out = msg_to_bgr(msg, max_pixels=max_pixels)
    except ImageConversionError as e:
        text = str(e)
        assert text and "\n" not in text and len(text) < 400, text
        return None
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8, (type(out), out.dtype)
    assert out.ndim == 3 and out.shape[2] == 3 and out.flags.c_contiguous, out.shape
    assert 0 < out.shape[0] * out.shape[1] <= max_pixels
    return out


# ---- raw Image ---------------------------------------------------------------------------
encodings = st.one_of(st.sampled_from(sorted(ENCODINGS)),
                      st.sampled_from(["BGR8", "yuv422", "16UC1", "32FC1", "bayer_rggb8", ""]),
                      st.text(max_size=12))
sides = st.one_of(st.integers(0, 80), st.sampled_from([2**16, 2**31 - 1, 2**32 - 1]))


@FUZZ
@given(enc=encodings, h=sides, w=sides, step=st.one_of(st.integers(0, 400), st.just(2**32 - 1)),
       big=st.integers(0, 255), data=st.binary(max_size=20_000), scaling=st.sampled_from(["shift", "minmax"]))
def test_any_raw_image_gives_a_frame_of_its_size_or_a_clear_refusal(enc, h, w, step, big, data, scaling):
    msg = Image(height=h, width=w, encoding=enc, is_bigendian=big, step=step, data=data)
    try:
        out = msg_to_bgr(msg, scaling, max_pixels=SMALL_LIMIT)
    except ImageConversionError as e:
        assert "\n" not in str(e)
        return
    assert out.dtype == np.uint8 and out.shape == (h, w, 3) and h * w <= SMALL_LIMIT


@FUZZ
@given(enc=st.sampled_from(sorted(ENCODINGS)), h=st.integers(1, 40), w=st.integers(1, 40),
       pad=st.integers(0, 9), seed=st.integers(0, 2**32 - 1))
def test_well_formed_raw_images_always_convert(enc, h, w, pad, seed):
    ch, dtype, _ = ENCODINGS[enc]
    row = w * ch * np.dtype(dtype).itemsize
    data = np.random.default_rng(seed).integers(0, 256, (h, row + pad), dtype=np.uint8)
    out = _convert(Image(height=h, width=w, encoding=enc, step=row + pad, data=data.tobytes()))
    assert out is not None and out.shape == (h, w, 3)


def test_raw_image_over_the_limit_is_refused_from_its_header():
    msg = Image(height=3000, width=4000, encoding="bgr8", step=12000, data=b"")  # no pixels sent
    with pytest.raises(ImageConversionError, match="over max_image_pixels 10000000"):
        msg_to_bgr(msg)


# ---- CompressedImage ---------------------------------------------------------------------
FORMATS = ["", "jpeg", "png", "JPEG", "bgr8; jpeg compressed bgr8", "rgb8; jpeg compressed bgr8",
           "mono8; png compressed mono8", "mono16; png compressed mono16",
           "rgb8; png compressed rgb8", "bgr8; png compressed bgr8", "16UC1; compressedDepth png",
           "32FC1; compressedDepth", "bgr16; png compressed bgr16", "tiff", "hdr", "jpeg2000",
           "bgr8; jpeg compressed", "png; jpeg", "rgba8; png compressed bgr8"]
formats = st.one_of(st.sampled_from(FORMATS), st.text(max_size=40))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(w: int, h: int, depth: int = 8, colour: int = 2) -> bytes:
    """A PNG whose IHDR claims w x h (valid CRCs) with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + \
        _png_chunk(b"IEND", b"")


@st.composite
def encoded_images(draw):
    """Real codec output (JPEG, PNG, and the float/other codecs OpenCV also decodes) of random
    arrays, then maybe truncated or with bytes flipped."""
    ext = draw(st.sampled_from([".jpg", ".png", ".png", ".hdr", ".pfm", ".tiff", ".bmp", ".webp",
                                ".ppm"]))
    h, w = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    ch = draw(st.sampled_from([1, 3, 4]))
    dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arr = rng.random((h, w, ch)).astype(np.float32)
    if dtype != np.float32:
        arr = (arr * np.iinfo(dtype).max).astype(dtype)
    try:
        ok, buf = cv2.imencode(ext, arr if ch > 1 else arr[..., 0])
    except cv2.error:
        ok = False
    assume(ok)
    data = bytearray(buf.tobytes())
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "append"]))
    if damage == "truncate":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif damage == "append":
        data += draw(st.binary(max_size=64))
    return bytes(data)


compressed_data = st.one_of(
    encoded_images(),
    st.binary(max_size=2000),
    st.builds(lambda rest: b"\xff\xd8\xff" + rest, st.binary(max_size=300)),
    st.builds(lambda rest: b"\x89PNG\r\n\x1a\n" + rest, st.binary(max_size=300)),
    st.builds(_png_claiming, st.integers(0, 2**31), st.integers(0, 2**31),
              st.sampled_from([1, 8, 16]), st.sampled_from([0, 2, 3, 4, 6])),
)


@FUZZ
@given(fmt=formats, data=compressed_data)
@example(fmt="png", data=cv2.imencode(".hdr", np.ones((8, 8, 3), np.float32))[1].tobytes())
@example(fmt="", data=cv2.imencode(".tiff", np.ones((8, 8, 3), np.float32))[1].tobytes())
@example(fmt="jpeg", data=cv2.imencode(".pfm", np.ones((8, 8, 3), np.float32))[1].tobytes())
def test_any_compressed_image_gives_an_8bit_frame_or_a_clear_refusal(fmt, data):
    out = _convert(CompressedImage(format=fmt, data=data))
    if out is not None:
        assert data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"  # only these two


@FUZZ
@given(w=st.integers(65, 2**31), h=st.integers(65, 2**31))
def test_a_png_header_over_the_limit_is_refused_before_decoding(w, h):
    """Only the header says how large: a decode would allocate w*h*3 bytes or fail on the data."""
    with pytest.raises(ImageConversionError, match="over max_image_pixels"):
        msg_to_bgr(CompressedImage(format="png", data=_png_claiming(w, h)), max_pixels=SMALL_LIMIT)


@FUZZ
@given(fmt=st.sampled_from([f for f in FORMATS if "png" in f and ";" in f and "compressedDepth" not in f
                            and f.split()[-1] in COMPRESSED_TARGETS and f.split(";")[0] in ENCODINGS]
                           + ["png", ""]),
       h=st.integers(1, 40), w=st.integers(1, 40), grey=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_valid_png_frames_decode_exactly(fmt, h, w, grey, seed):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w) if grey else (h, w, 3), dtype=np.uint8)
    out = _convert(CompressedImage(format=fmt, data=cv2.imencode(".png", arr)[1].tobytes()))
    want = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR) if grey else arr
    if not grey and fmt.endswith("compressed rgb8"):  # the encoded array was in RGB order
        want = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    np.testing.assert_array_equal(out, want)
