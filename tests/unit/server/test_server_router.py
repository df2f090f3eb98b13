"""The weighted router: exact split, and the rules for changing it."""

from __future__ import annotations

import collections

import pytest

from mlform.providers.server.config import VersionSpec
from mlform.providers.server.router import Router, RouterError, load_version


@pytest.fixture
def router(onnx_classifier, onnx_classifier_v2):
    r = Router()
    r.add(load_version(VersionSpec("v1", str(onnx_classifier.path)), "none", 64))
    r.add(load_version(VersionSpec("v2", str(onnx_classifier_v2.path)), "none", 64))
    return r


def test_first_version_takes_all_traffic_then_new_ones_none(router):
    assert router.weights == {"v1": 100.0, "v2": 0.0}
    assert {router.pick().id for _ in range(50)} == {"v1"}


@pytest.mark.parametrize("w1, w2", [(90, 10), (50, 50), (1, 3)])
def test_smooth_weighted_round_robin_is_exact(router, w1, w2):
    router.set_weights({"v1": w1, "v2": w2})
    n = (w1 + w2) * 4
    counts = collections.Counter(router.pick().id for _ in range(n))
    assert counts == {"v1": w1 * 4, "v2": w2 * 4}


def test_canary_is_interleaved_not_bunched(router):
    router.set_weights({"v1": 90, "v2": 10})
    picks = [router.pick().id for _ in range(100)]
    gaps = [i for i, p in enumerate(picks) if p == "v2"]
    assert len(gaps) == 10 and max(b - a for a, b in zip(gaps, gaps[1:])) == 10


def test_weight_rules(router):
    with pytest.raises(RouterError, match="no version 'v9'"):
        router.set_weights({"v9": 100})
    with pytest.raises(RouterError, match="at least one version"):
        router.set_weights({"v1": 0, "v2": 0})
    with pytest.raises(RouterError, match="must be a number >= 0"):
        router.set_weights({"v1": -1})
    assert router.set_weights({"v2": 100}) == {"v1": 0.0, "v2": 100.0}


def test_remove_rules(router, onnx_classifier):
    with pytest.raises(RouterError, match="still receives 100 of the traffic") as e:
        router.remove("v1")
    assert e.value.status == 409
    with pytest.raises(RouterError, match="no version 'v3'"):
        router.remove("v3")
    removed = router.remove("v2")
    assert removed.id == "v2" and list(router.versions) == ["v1"]
    with pytest.raises(RouterError, match="already loaded"):
        router.add(load_version(VersionSpec("v1", str(onnx_classifier.path)), "none", 64))


def test_primary_is_the_heaviest_version(router):
    assert router.primary().id == "v1"
    router.set_weights({"v1": 10, "v2": 90})
    assert router.primary().id == "v2"
    assert router.percentages() == {"v1": 10.0, "v2": 90.0}


def test_digest_is_checked(onnx_classifier):
    with pytest.raises(Exception, match="has digest sha256:.*expected sha256:00"):
        load_version(VersionSpec("v1", str(onnx_classifier.path), digest="sha256:00"), "none", 64)
    v = load_version(VersionSpec("v1", str(onnx_classifier.path),
                                 digest=onnx_classifier.digest.split(":")[1]), "none", 64)
    assert v.digest == onnx_classifier.digest


def test_empty_router_gets_its_first_version_at_full_weight(onnx_classifier):
    r = Router()
    assert not r.ready and r.pick() is None and r.primary() is None
    with pytest.raises(RouterError, match="at least one version"):
        r.add(load_version(VersionSpec("v1", str(onnx_classifier.path)), "none", 64), 0)
    assert r.versions == {}  # a refused add leaves nothing behind
    r.add(load_version(VersionSpec("v1", str(onnx_classifier.path)), "none", 64))
    assert r.ready and r.weights == {"v1": 100.0}
