"""Ring-buffer request counters: windows, percentiles, truncation."""

from __future__ import annotations

import numpy as np

from mlform.providers.server.stats import (
    CLIENT_ERROR, OK, SERVER_ERROR, RequestLog, window_stats,
)


def test_window_counts_only_recent_samples():
    log = RequestLog(1024)
    for i in range(100):  # completed at t = i seconds with latency i ms
        log.record(float(i), float(i), SERVER_ERROR if i % 10 == 0 else OK)
    s = window_stats([log], 10.0, now=99.0)  # t >= 89: 89..99
    assert s.request_count == 11
    assert s.error_count == 1 and s.error_rate == 1 / 11  # t = 90
    lat = np.arange(89, 100, dtype=float)
    assert (s.p50_ms, s.p95_ms, s.p99_ms) == tuple(np.percentile(lat, [50, 95, 99]))
    assert not s.truncated
    assert log.count == 100 and log.total_errors == 10


def test_percentiles_match_numpy_on_random_latencies():
    rng = np.random.default_rng(0)
    lat = rng.lognormal(0, 1, 5000)
    log = RequestLog(8192)
    for i, v in enumerate(lat):
        log.record(1000.0 + i * 1e-3, float(v))
    s = window_stats([log], 60.0, now=1006.0)
    assert s.request_count == 5000
    np.testing.assert_allclose([s.p50_ms, s.p95_ms, s.p99_ms], np.percentile(lat, [50, 95, 99]))


def test_versions_combine_and_client_errors_are_separate():
    a, b = RequestLog(64), RequestLog(64)
    a.record(10.0, 1.0, OK)
    a.record(10.0, 2.0, CLIENT_ERROR)
    b.record(10.0, 3.0, SERVER_ERROR)
    s = window_stats([a, b], 5.0, now=11.0)
    assert (s.request_count, s.error_count, s.client_error_count) == (3, 1, 1)
    assert s.p50_ms == 2.0


def test_empty_window():
    log = RequestLog(64)
    log.record(0.0, 1.0)
    s = window_stats([log], 1.0, now=100.0)
    assert s.request_count == 0 and s.error_rate == 0.0 and s.p99_ms is None


def test_ring_overwrites_oldest_and_reports_truncation():
    log = RequestLog(16)
    assert log.capacity == 16
    for i in range(40):
        log.record(float(i), float(i))
    full = window_stats([log], 100.0, now=39.0)
    assert full.request_count == 16 and full.truncated  # only t = 24..39 are kept
    assert full.p50_ms == np.percentile(np.arange(24, 40), 50)
    recent = window_stats([log], 5.0, now=39.0)
    assert recent.request_count == 6 and not recent.truncated


def test_window_start_found_at_every_ring_position():
    """The window's start is a binary search over the ring read oldest-first: for every
    wrap point and every window edge (including repeated completion times) the samples
    are exactly those a full scan finds."""
    rng = np.random.default_rng(1)
    for recorded in (5, 16, 17, 31, 32, 45):
        log = RequestLog(16)
        times = np.sort(rng.integers(0, 12, recorded)).astype(float)  # ties on purpose
        for i, t in enumerate(times):
            log.record(float(t), float(i), SERVER_ERROR if i % 3 == 0 else OK)
        kept = np.arange(recorded)[-16:]
        for since in np.arange(-1.0, 13.0, 0.5):
            lat, kind, truncated = log.samples(since)
            want = kept[times[kept] >= since]
            assert lat.tolist() == [float(i) for i in want], (recorded, since)
            assert kind.tolist() == [SERVER_ERROR if i % 3 == 0 else OK for i in want]
            assert truncated == (recorded > 16 and bool(times[kept[0]] >= since))


def test_samples_are_copies_that_later_records_do_not_change():
    log = RequestLog(16)
    for i in range(20):
        log.record(float(i), 1.0)
    lat, _, _ = log.samples(10.0)
    for i in range(20, 40):
        log.record(float(i), 99.0)
    assert lat.tolist() == [1.0] * 10
