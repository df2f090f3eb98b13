"""No request fails while a version is loaded, traffic shifts and the old version goes."""

from __future__ import annotations

import collections
import threading
import time

import httpx
import numpy as np

from server_helpers import infer_body
from mlform.providers.local import process

CLIENT_THREADS = 4


def test_zero_failures_during_a_full_rollout(launch, classifiers):
    h = launch("rollout", {"v1": classifiers["v1"]})
    url = h.url + "/v2/models/rollout/infer"
    body = infer_body(np.ones((2, 4), dtype=np.float32))
    expected = {v: a.predict(np.ones((2, 4))) for v, a in classifiers.items()}
    stop = threading.Event()
    served: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def hammer() -> None:
        with httpx.Client(trust_env=False, timeout=10) as c:
            deadline = time.monotonic() + 60  # bounded even if the test body hangs
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    r = c.post(url, json=body)
                    out = r.json()
                    version = out["model_version"]
                    got = np.asarray(out["outputs"][0]["data"], dtype=np.float32).reshape(2, 3)
                    ok = r.status_code == 200 and np.allclose(got, expected[version], rtol=1e-5)
                    with lock:
                        served[version] += 1
                        if not ok:
                            failures.append(f"{r.status_code}: {r.text[:200]}")
                except Exception as e:  # a refused connection or a bad body is a failure too
                    with lock:
                        failures.append(repr(e))

    def wait_for(n: int) -> None:
        target = sum(served.values()) + n
        while sum(served.values()) < target and not failures:
            time.sleep(0.01)

    threads = [threading.Thread(target=hammer) for _ in range(CLIENT_THREADS)]
    for t in threads:
        t.start()
    try:
        wait_for(50)
        process.load_version(h.url, h.token, "v2", classifiers["v2"].path)
        wait_for(50)
        for pct in (10, 50, 100):
            process.set_traffic(h.url, h.token, {"v1": 100 - pct, "v2": pct})
            wait_for(100)
        process.remove_version(h.url, h.token, "v1")
        wait_for(100)
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert failures == []
    assert served["v1"] > 0 and served["v2"] > 0
    after = process.info(h.url, h.token)
    assert after["weights"] == {"v2": 100.0} and list(after["digests"]) == ["v2"]
    assert process.stats(h.url, h.token, 300).error_count == 0
