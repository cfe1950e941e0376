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


class ImageConversionError(ValueError):
    """A message that cannot become a BGR frame; the text says what is wrong with it."""


def _raw_bytes(data) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)  # rclpy: array.array / bytes, zero-copy


def image_to_bgr(msg, mono16_scaling: str = "shift", use_cv_bridge: bool = True) -> np.ndarray:
    """sensor_msgs/Image -> H x W x 3 uint8 BGR (a new, contiguous array)."""
    enc = str(msg.encoding).lower()
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if enc not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {msg.encoding!r}; "
                                   f"supported: {', '.join(ENCODINGS)} (or CompressedImage jpeg/png)")
    if h <= 0 or w <= 0:
        raise ImageConversionError(f"empty image ({w}x{h})")
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


def compressed_to_bgr(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG or PNG, any depth/colour) -> H x W x 3 uint8 BGR."""
    fmt = str(msg.format).lower()
    if fmt and not any(f in fmt for f in COMPRESSED_FORMATS):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r}; use jpeg or png")
    data = _raw_bytes(msg.data)
    if data.size == 0:
        raise ImageConversionError("empty CompressedImage data")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageConversionError(f"cannot decode {data.size} bytes of CompressedImage "
                                   f"(format {msg.format!r}): corrupt or truncated")
    if img.dtype == np.uint16:
        img = _mono16_to_8(img, "shift")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(img)


def msg_to_bgr(msg, mono16_scaling: str = "shift") -> np.ndarray:
    """Either image message type -> BGR."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_bgr(msg)
    return image_to_bgr(msg, mono16_scaling)


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


STATE_COLOURS = {0: (160, 160, 160), 1: (0, 220, 0), 2: (0, 0, 255)}  # BGR: IDLE, TRACKING, LOST


def draw_track(bgr: np.ndarray, f: dict) -> np.ndarray:
    """A copy of the frame with the Track fields drawn (debug_image, demo contact sheet)."""
    img = bgr.copy()
    state = int(f["state"])
    colour = STATE_COLOURS.get(state, (255, 255, 255))
    label = ("IDLE", "TRACKING", "LOST")[state] if state in (0, 1, 2) else str(state)
    if state != 0:
        p0 = (int(round(f["x"])), int(round(f["y"])))
        p1 = (int(round(f["x"] + f["width"])), int(round(f["y"] + f["height"])))
        cv2.rectangle(img, p0, p1, colour, 2)
        label += f" #{f['track_id']} {f['confidence']:.2f}"
    cv2.putText(img, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)
    return img
