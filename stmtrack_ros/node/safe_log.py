"""Logging for the node that cannot raise.

rclpy keys every log call site (file, line, bytecode offset) to the severity and filters of
its first call and raises ValueError when a later call there differs ("Logger severity cannot
be changed between calls"): one `log = info if ok else warning` ends the process. Here each
severity has its own fixed rclpy call site without filters; the rate limit (`every=` seconds)
is kept per calling line of *our* code, and a message held back is counted and reported with
the next one from that line, so nothing is dropped silently. A failure of the logger itself
goes to stderr instead of up the stack.
"""
from __future__ import annotations

import sys
import threading
import time

MAX_CHARS = 2000  # a log line is one line: longer texts (a client's stamp list...) are cut


def one_line(text, limit: int = MAX_CHARS) -> str:
    """`text` on one line (whitespace runs collapsed), at most `limit` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class SafeLog:
    """info/warning/error/fatal on an rclpy logger; `every=s` rate-limits per call site."""

    def __init__(self, logger):
        self._logger = logger
        self._lock = threading.Lock()
        self._sites: dict[tuple, list] = {}  # call site -> [last emitted (monotonic), held back]

    def _admit(self, every: float | None) -> tuple[bool, int]:
        """(emit now?, messages held back since the last one) for the line that called
        info/warning/error (frame 2: _admit <- info <- that line)."""
        if not every:
            return True, 0
        f = sys._getframe(2)
        site = (f.f_code.co_filename, f.f_lineno)
        now = time.monotonic()
        with self._lock:
            entry = self._sites.setdefault(site, [-1e18, 0])
            if now - entry[0] < every:
                entry[1] += 1
                return False, 0
            held, entry[0], entry[1] = entry[1], now, 0
            return True, held

    def _text(self, msg, every, held) -> str:
        text = one_line(msg)
        if held:
            text += f" ({held} more like this in the last {every:g} s not shown)"
        return text

    # One method per severity, each with its own rclpy call site (never shared).
    def info(self, msg, every: float | None = None) -> None:
        try:
            ok, held = self._admit(every)
            if ok:
                self._logger.info(self._text(msg, every, held))
        except Exception as e:  # noqa: BLE001 - logging must never take the node down
            _fallback("INFO", msg, e)

    def warning(self, msg, every: float | None = None) -> None:
        try:
            ok, held = self._admit(every)
            if ok:
                self._logger.warning(self._text(msg, every, held))
        except Exception as e:  # noqa: BLE001
            _fallback("WARN", msg, e)

    def error(self, msg, every: float | None = None) -> None:
        try:
            ok, held = self._admit(every)
            if ok:
                self._logger.error(self._text(msg, every, held))
        except Exception as e:  # noqa: BLE001
            _fallback("ERROR", msg, e)

    def fatal(self, msg) -> None:
        try:
            self._logger.fatal(one_line(msg))
        except Exception as e:  # noqa: BLE001
            _fallback("FATAL", msg, e)


def _fallback(level: str, msg, err: Exception) -> None:
    try:
        print(f"[{level}] {one_line(msg)} (logger failed: {type(err).__name__}: {one_line(err, 200)})",
              file=sys.stderr, flush=True)
    except Exception:  # noqa: BLE001 - stderr closed: nothing more can be done
        pass
