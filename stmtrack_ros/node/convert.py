"""sensor_msgs images <-> BGR uint8 arrays, and tracker results -> Track message fields.

Works on rclpy messages and on rosbags' deserialized messages alike (duck typing), so the
live node and the offline bag tools convert frames with the same code. cv_bridge is used
when it is importable (a real ROS install); otherwise a numpy conversion with the same
behaviour (16-bit -> 8-bit by dropping the low byte, i.e. value // 256).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..tracker import draw

try:  # a real ROS 2 install has it; the PyPI wheels do not
    from cv_bridge import CvBridge as _CvBridge
    _BRIDGE = _CvBridge()
except Exception:  # noqa: BLE001 - any import problem means "not available"
    _BRIDGE = None

# encoding -> (channels, numpy dtype, cv2 conversion to BGR or None)
ENCODINGS = {
    "bgr8": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR),
}
MONO16_SCALINGS = ("shift", "minmax")  # shift: v // 256 (cv_bridge); minmax: per-frame stretch
COMPRESSED_FORMATS = ("jpeg", "png")
# The largest frame converted (width * height), checked from the message (raw) or the codec
# header (compressed) before any decoding: DCI 4K (4096x2160, 8.8 MP) and UHD fit; a bgr8
# frame at the limit is 30 MB. The node's max_image_pixels parameter defaults to this.
MAX_IMAGE_PIXELS = 10_000_000
# image_transport's compressed format strings: "jpeg", "png" (older publishers, or empty), or
# "<image encoding>; <codec> compressed <encoded array's encoding>".
COMPRESSED_TARGETS = {"bgr8": None, "rgb8": cv2.COLOR_RGB2BGR, "mono8": None, "mono16": None}
_MAGIC = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}


class ImageConversionError(ValueError):
    """A message that cannot become a BGR frame; the text says what is wrong with it."""


class ImageTooLargeError(ImageConversionError):
    """A frame over max_image_pixels (counted apart on /diagnostics: a camera setting)."""


def _raw_bytes(data) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)  # rclpy: array.array / bytes, zero-copy


def check_size(w: int, h: int, max_pixels: int | None, what: str = "image") -> None:
    """Refuse an empty frame, or one over `max_pixels` (None: no limit), before decoding it."""
    if h <= 0 or w <= 0:
        raise ImageConversionError(f"empty {what} ({w}x{h})")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageTooLargeError(f"{what} {w}x{h} = {w * h} pixels is over max_image_pixels "
                                   f"{max_pixels}; send smaller frames or raise max_image_pixels")


def image_to_bgr(msg, mono16_scaling: str = "shift", use_cv_bridge: bool = True,
                 max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """sensor_msgs/Image -> H x W x 3 uint8 BGR (a new, contiguous array)."""
    enc = str(msg.encoding).lower()
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if enc not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {str(msg.encoding)[:40]!r}; "
                                   f"supported: {', '.join(ENCODINGS)} (or CompressedImage jpeg/png)")
    check_size(w, h, max_pixels)
    ch, dtype, code = ENCODINGS[enc]
    itemsize = np.dtype(dtype).itemsize
    row = w * ch * itemsize
    if step < row:
        raise ImageConversionError(f"step {step} < width*bytes_per_pixel {row} for {enc} {w}x{h}")
    data = _raw_bytes(msg.data)
    if data.size < step * h:
        raise ImageConversionError(f"truncated data: {data.size} bytes, need step*height = "
                                   f"{step}*{h} = {step * h}")
    if mono16_scaling not in MONO16_SCALINGS:
        raise ImageConversionError(f"mono16_scaling {mono16_scaling!r}; use one of {MONO16_SCALINGS}")
    if _BRIDGE is not None and use_cv_bridge and not (enc == "mono16" and mono16_scaling != "shift"):
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, "bgr8"))
    rows = data[: step * h].reshape(h, step)[:, :row]
    if itemsize > 1:
        big = bool(msg.is_bigendian)
        rows = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(">" if big else "<"))
    img = rows.reshape(h, w, ch) if ch > 1 else rows.reshape(h, w)
    if dtype == np.uint16:
        img = _mono16_to_8(img.astype(np.uint16), mono16_scaling)
    if code is None:
        return np.ascontiguousarray(img)
    return cv2.cvtColor(np.ascontiguousarray(img), code)


def _mono16_to_8(img: np.ndarray, scaling: str) -> np.ndarray:
    if scaling == "shift":
        return (img >> 8).astype(np.uint8)
    lo, hi = int(img.min()), int(img.max())
    if hi <= lo:
        return np.zeros(img.shape, np.uint8)
    return ((img.astype(np.float32) - lo) * (255.0 / (hi - lo)) + 0.5).astype(np.uint8)


def parse_format(fmt: str) -> tuple[str | None, str | None]:
    """(codec or None when the format does not say, encoded array's encoding or None) of an
    image_transport format string, exactly: "", "jpeg", "png", or "<enc>; jpeg|png compressed
    <target>" with enc one of ENCODINGS and target one of COMPRESSED_TARGETS. Anything else
    (compressedDepth, "tiff", "png16"...) is refused, whatever codec name it contains."""
    text = str(fmt).strip()
    if text == "":
        return None, None
    if text.lower() in COMPRESSED_FORMATS:
        return text.lower(), None
    parts = [p.strip() for p in text.split(";")]
    if len(parts) == 2:
        enc, rest = parts[0].lower(), parts[1].lower().split()
        if (enc in ENCODINGS and len(rest) == 3 and rest[0] in COMPRESSED_FORMATS
                and rest[1] == "compressed" and rest[2] in COMPRESSED_TARGETS):
            return rest[0], rest[2]
    shown = text[:60] + ("..." if len(text) > 60 else "")
    raise ImageConversionError(f"unsupported compressed format {shown!r}; use jpeg or png "
                               "(\"jpeg\", \"png\" or \"<encoding>; jpeg|png compressed "
                               "bgr8|rgb8|mono8|mono16\")")


def _png_header(b: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR (the first chunk)."""
    if len(b) < 26 or b[12:16] != b"IHDR":
        raise ImageConversionError("truncated PNG: no IHDR header")
    w, h = int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    return w, h, b[24], b[25]


_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT/JPG/DAC)


def _jpeg_header(b: bytes) -> tuple[int, int, int, int]:
    """(width, height, sample precision, components) from a JPEG's start-of-frame segment,
    walking the marker segments before it (a few bytes each; no entropy data is read)."""
    i, n = 2, len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            raise ImageConversionError(f"corrupt JPEG: no marker at byte {i}")
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = int.from_bytes(b[i + 2:i + 4], "big")
        if marker in _SOF:
            if i + 10 > n or length < 8:
                break
            precision, h, w = b[i + 4], int.from_bytes(b[i + 5:i + 7], "big"), \
                int.from_bytes(b[i + 7:i + 9], "big")
            return w, h, precision, b[i + 9]
        if marker in (0xD9, 0xDA) or length < 2:  # end of image / scan before any frame
            break
        i += 2 + length
    raise ImageConversionError("truncated or corrupt JPEG: no frame header before the data")


def compressed_to_bgr(msg, max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """sensor_msgs/CompressedImage -> H x W x 3 uint8 BGR. JPEG or PNG only (told by the
    data's magic bytes, which must agree with the format string), 8-bit or 16-bit grey (taken
    to 8 bits by v // 256); the size is read from the codec header and checked against
    `max_pixels` before anything is decoded. Everything else is refused with the reason."""
    codec, target = parse_format(msg.format)
    data = _raw_bytes(msg.data)
    if data.size == 0:
        raise ImageConversionError("empty CompressedImage data")
    head = data[:65536].tobytes()  # the headers are within the first segments
    found = next((c for c, magic in _MAGIC.items() if head.startswith(magic)), None)
    if found is None:
        raise ImageConversionError(f"CompressedImage data ({data.size} bytes, starting "
                                   f"{head[:8].hex()}) is neither JPEG nor PNG")
    if codec is not None and found != codec:
        raise ImageConversionError(f"CompressedImage format {str(msg.format)[:60]!r} says "
                                   f"{codec} but the data is {found.upper()}")
    if found == "png":
        w, h, depth, colour = _png_header(head)
        if depth == 16 and colour != 0:  # 0 = greyscale
            raise ImageConversionError(f"16-bit colour PNG ({w}x{h}) refused: send 8-bit "
                                       "colour or 16-bit mono")
    else:
        w, h, depth, _ = _jpeg_header(head)
        if depth != 8:
            raise ImageConversionError(f"{depth}-bit JPEG ({w}x{h}) refused: send 8-bit JPEG")
    check_size(w, h, max_pixels, f"compressed {found.upper()}")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageConversionError(f"cannot decode {data.size} bytes of CompressedImage "
                                   f"({found.upper()} {w}x{h}): corrupt or truncated")
    if img.shape[:2] != (h, w):
        raise ImageConversionError(f"decoded {img.shape[1]}x{img.shape[0]} differs from the "
                                   f"{found.upper()} header's {w}x{h}: corrupt data")
    grey = img.ndim == 2 or img.shape[2] == 1
    if img.dtype == np.uint16 and grey:
        img = _mono16_to_8(img.reshape(h, w), "shift")
    elif img.dtype != np.uint8:
        raise ImageConversionError(f"decoded {found.upper()} is {img.dtype} "
                                   f"{'grey' if grey else 'colour'}; only 8-bit images and "
                                   "16-bit mono are accepted")
    if grey:
        return cv2.cvtColor(img.reshape(h, w), cv2.COLOR_GRAY2BGR)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ImageConversionError(f"decoded {found.upper()} has shape {img.shape}; need 1, 3 "
                                   "or 4 channels")
    if img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    code = COMPRESSED_TARGETS.get(target)
    return cv2.cvtColor(img, code) if code is not None else np.ascontiguousarray(img)


def msg_to_bgr(msg, mono16_scaling: str = "shift",
               max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Either image message type -> BGR uint8 H x W x 3; ImageConversionError otherwise."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_bgr(msg, max_pixels)
    return image_to_bgr(msg, mono16_scaling, max_pixels=max_pixels)


def bgr_to_array(bgr: np.ndarray, encoding: str) -> np.ndarray:
    """BGR -> the pixel array of `encoding` (mono16 = gray * 257, so shift gives gray back)."""
    if encoding == "bgr8":
        return bgr
    if encoding == "rgb8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if encoding == "bgra8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    if encoding == "rgba8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if encoding == "mono8":
        return gray
    if encoding == "mono16":
        return gray.astype(np.uint16) * 257
    raise ImageConversionError(f"cannot encode {encoding!r}; supported: {', '.join(ENCODINGS)}")


def bgr_to_image(bgr: np.ndarray, encoding: str = "bgr8", header=None):
    """BGR array -> rclpy sensor_msgs/Image (data set with tobytes(): assigning arrays is slow)."""
    from sensor_msgs.msg import Image
    arr = np.ascontiguousarray(bgr_to_array(bgr, encoding))
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(arr.strides[0])
    msg.data = arr.tobytes()
    return msg


def bgr_to_compressed(bgr: np.ndarray, fmt: str = "jpeg", header=None, quality: int = 90):
    """BGR array -> rclpy sensor_msgs/CompressedImage, image_transport format string."""
    from sensor_msgs.msg import CompressedImage
    if fmt not in COMPRESSED_FORMATS:
        raise ImageConversionError(f"cannot compress to {fmt!r}; use jpeg or png")
    ext, opts = (".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]) if fmt == "jpeg" else (".png", [])
    ok, buf = cv2.imencode(ext, bgr, opts)
    if not ok:
        raise ImageConversionError(f"OpenCV could not encode a {bgr.shape} frame as {fmt}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = f"bgr8; {fmt} compressed bgr8"
    msg.data = buf.tobytes()
    return msg


def track_fields(result, *, track_id: int, image_wh: tuple[int, int],
                 latency_ms: float = 0.0) -> dict:
    """Track message fields (all but the header) for a TrackResult, or for IDLE when None.

    The one place that maps tracker results to messages: the live node and `bag-track` both
    use it, so their messages are equal field for field (latency aside)."""
    if result is None:
        state, box, conf, index, mem = 0, (0.0, 0.0, 0.0, 0.0), 0.0, 0, 0
    else:
        state, box, conf = int(result.state), result.box, float(result.confidence)
        index, mem = int(result.frame_index), len(result.memory_frames)
    box = [float(v) if math.isfinite(float(v)) else 0.0 for v in box]
    return {
        "track_id": int(track_id), "state": state,
        "x": box[0], "y": box[1], "width": box[2], "height": box[3],
        "confidence": min(max(conf, 0.0), 1.0) if math.isfinite(conf) else 0.0,
        "image_width": int(image_wh[0]), "image_height": int(image_wh[1]),
        "frame_index": index, "memory_frames": mem, "latency_ms": float(latency_ms),
    }


def draw_track(bgr: np.ndarray, f: dict) -> np.ndarray:
    """A copy of the frame with the Track fields drawn (debug_image, demo contact sheet)."""
    return draw.draw_track(bgr, f["state"], (f["x"], f["y"], f["width"], f["height"]), f["confidence"],
                           f"#{f['track_id']}")
