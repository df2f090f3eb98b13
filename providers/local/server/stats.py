"""Request counters of the router: one fixed-size ring buffer per version.

Recording is three array stores and an increment on the event-loop thread
(no lock: only that thread writes or reads). Windowed figures are computed on
demand, with numpy, over the samples whose completion time falls inside the
window. A ring holds ``capacity`` samples; when a window reaches further back
than the oldest sample kept, the result says so (``truncated``).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Iterable

import numpy as np

OK, CLIENT_ERROR, SERVER_ERROR = 0, 1, 2


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Figures over a time window; latencies are ``None`` when no request completed."""

    window_seconds: float
    request_count: int
    error_count: int  # server-side failures (HTTP 5xx)
    client_error_count: int  # requests the model refused (HTTP 4xx)
    error_rate: float  # error_count / request_count
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    truncated: bool  # the window reaches past the oldest sample kept

    def to_json(self) -> dict[str, object]:
        return {
            "window_seconds": self.window_seconds, "request_count": self.request_count,
            "error_count": self.error_count, "client_error_count": self.client_error_count,
            "error_rate": self.error_rate, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms, "truncated": self.truncated,
        }


class RequestLog:
    """Ring buffer of (completion time, latency, outcome) for one version."""

    __slots__ = ("capacity", "_mask", "_t", "_lat", "_kind", "count", "total_errors")

    def __init__(self, capacity: int = 1 << 18) -> None:
        # A power of two lets the index be a mask instead of a modulo.
        cap = 1 << max(4, (max(capacity, 16) - 1).bit_length())
        self.capacity = cap
        self._mask = cap - 1
        self._t = array("d", bytes(8 * cap))
        self._lat = array("d", bytes(8 * cap))
        self._kind = array("B", bytes(cap))
        self.count = 0  # requests recorded since the version was loaded
        self.total_errors = 0

    def record(self, t: float, latency_ms: float, kind: int = OK) -> None:
        """Record one request completed at monotonic time ``t``."""
        i = self.count & self._mask
        self._t[i] = t
        self._lat[i] = latency_ms
        self._kind[i] = kind
        self.count += 1
        if kind == SERVER_ERROR:
            self.total_errors += 1

    def samples(self, since: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """Latencies and outcomes of requests completed at or after ``since``, and truncation."""
        n = min(self.count, self.capacity)
        t = np.frombuffer(self._t, dtype=np.float64)[:n]
        mask = t >= since
        # Samples were overwritten, and even the oldest kept is inside the window.
        truncated = self.count > self.capacity and bool(t.min() >= since)
        lat = np.frombuffer(self._lat, dtype=np.float64)[:n][mask]
        kind = np.frombuffer(self._kind, dtype=np.uint8)[:n][mask]
        return lat, kind, truncated


def window_stats(logs: Iterable[RequestLog], window_seconds: float, now: float) -> WindowStats:
    """Combine ``logs`` over the last ``window_seconds`` before monotonic time ``now``."""
    since = now - window_seconds
    lats, kinds, truncated = [], [], False
    for log in logs:
        lat, kind, trunc = log.samples(since)
        lats.append(lat)
        kinds.append(kind)
        truncated = truncated or trunc
    lat = np.concatenate(lats) if lats else np.empty(0)
    kind = np.concatenate(kinds) if kinds else np.empty(0, dtype=np.uint8)
    n = int(lat.size)
    errors = int(np.count_nonzero(kind == SERVER_ERROR))
    client = int(np.count_nonzero(kind == CLIENT_ERROR))
    pct: list[float | None] = [None, None, None]
    if n:
        pct = [float(x) for x in np.percentile(lat, [50, 95, 99])]
    return WindowStats(window_seconds, n, errors, client, errors / n if n else 0.0,
                       pct[0], pct[1], pct[2], truncated)
