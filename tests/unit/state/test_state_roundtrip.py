"""Property tests: any state survives write/read, and journal replay equals the live state."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlform.engine.state import (
    Encryptor,
    HistoryRecord,
    LocalBackend,
    ResourceState,
    State,
    StateManager,
)
from mlform.engine.state.sensitive import mask_state

# tmpfs when available (see conftest.FAST_TMP): examples should not wait on fsync.
FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
ENC = Encryptor(key=os.urandom(32), source="test")

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6)


@st.composite
def resources(draw: Any) -> ResourceState:
    kind = draw(st.sampled_from(["model", "endpoint", "prompt", "eval_suite"]))
    name = draw(names)
    key = draw(st.none() | st.integers(0, 5) | names)
    address = f"{kind}.{name}" + ("" if key is None else f"[{key!r}]".replace("'", '"'))
    return ResourceState(
        address=address, kind=kind, name=name, index_key=key,
        provider=draw(st.sampled_from(["local", "docker", "sagemaker"])),
        attributes=draw(st.dictionaries(names, json_values, max_size=5)),
        sensitive_paths=draw(st.lists(st.lists(names | st.integers(0, 3), min_size=1, max_size=3),
                                      max_size=2)),
        dependencies=draw(st.lists(names.map(lambda n: f"model.{n}"), max_size=3)),
        status=draw(st.sampled_from(["ready", "tainted"])),
        private=draw(st.dictionaries(names, json_values, max_size=2)),
    )


histories = st.builds(
    HistoryRecord,
    who=st.text(max_size=10),
    changes=st.lists(st.dictionaries(names, json_values, max_size=3), max_size=2),
    outcome=st.sampled_from(["succeeded", "failed", "partial", "in_progress"]),
)


@st.composite
def states(draw: Any) -> State:
    s = State(serial=draw(st.integers(0, 1000)),
              outputs=draw(st.dictionaries(names, json_values, max_size=3)),
              history=draw(st.lists(histories, max_size=2)))
    for r in draw(st.lists(resources(), max_size=4, unique_by=lambda r: r.address)):
        s.put(r)
    return s


def stored(state: State, encrypted: bool) -> State:
    """What reading back gives: without encryption, sensitive values are digests."""
    return state if encrypted else mask_state(state)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=states(), encrypted=st.booleans())
def test_any_state_round_trips_through_write_and_read(state: State, encrypted: bool) -> None:
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as d:
        b = LocalBackend(Path(d) / "s.json", ENC if encrypted else None)
        written = b.write(state)
        assert written.serial == max(state.serial, 1)
        assert b.read() == stored(written, encrypted)
        assert written.model_copy(update={"serial": state.serial}) == state


ops = st.one_of(
    st.tuples(st.just("put"), resources()),
    st.tuples(st.just("remove"), st.sampled_from(["model.a", "endpoint.b"])),
    st.tuples(st.just("history"), histories),
    st.tuples(st.just("outputs"), st.dictionaries(names, json_values, max_size=2)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=states(), steps=st.lists(ops, max_size=12), encrypted=st.booleans())
def test_replayed_journal_equals_what_the_apply_saw(
        base: State, steps: list[tuple[str, Any]], encrypted: bool) -> None:
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as d:
        path = Path(d) / "s.json"
        enc = ENC if encrypted else None
        LocalBackend(path, enc).write(base)
        mgr = StateManager(LocalBackend(path, enc))
        mgr.load()
        mgr.begin()
        for kind, arg in steps:
            if kind == "put":
                mgr.record_put(arg)
            elif kind == "remove":
                mgr.record_remove(arg)
            elif kind == "history":
                mgr.record_history(arg)
            else:
                mgr.set_outputs(arg)
        live = mgr.snapshot()
        # The process dies here; another one reads.
        recovered = StateManager(LocalBackend(path, enc)).load()
        assert recovered.model_copy(update={"serial": live.serial}) == stored(live, encrypted)
        assert stored(mgr.commit(), encrypted) == recovered
