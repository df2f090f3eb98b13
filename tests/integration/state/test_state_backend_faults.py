"""A failing remote backend loses nothing: real `mlform apply` runs against moto and
the GCS emulator, with the fault proxy (tests/fixtures/faultproxy.py) making the
store fail at the final write, or going down / expiring credentials mid-apply.

Each test checks what a user sees (exit code, the diagnostic, the command it
names), that ``errored.mlform.state.json`` holds exactly what the provider
created, and that ``force-unlock`` + ``state push`` bring the backend back to a
state with nothing left to apply.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable

import boto3
import pytest

from mlform.providers.testing import TestProvider
from tests.fixtures.faultproxy import FaultProxy
from tests.fixtures.project import Project, parse_diagnostics

KEY = "envs/prod/mlform.state.json"
RESOURCES = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "a" {
  provider = provider.testing
  model    = model.m
  port     = 8001
}

endpoint "b" {
  provider = provider.testing
  model    = model.m
  port     = endpoint.a.port + 1
}

endpoint "c" {
  provider = provider.testing
  model    = model.m
  port     = endpoint.b.port + 1
}
'''
ERRORED = "errored.mlform.state.json"
# One try and one retry per call: the SDK's own retries would only make the
# tests slow (a fault here lasts until the test clears it).
FAST_S3 = {"AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"}


def _s3_project(project: Project, bucket: str, url: str, *, lock_table: str | None = None) -> None:
    table = f'\n    lock_table   = "{lock_table}"' if lock_table else ""
    _write(project, f'''
mlform {{
  backend "s3" {{
    bucket       = "{bucket}"
    key          = "{KEY}"
    region       = "us-east-1"
    endpoint_url = "{url}"{table}
  }}
}}
''')


def _write(project: Project, backend: str) -> None:
    project.write("m.onnx", "weights")
    project.write("main.mlf.hcl", RESOURCES + backend)


def _objects(project: Project) -> dict[str, Any]:
    """What the provider holds, by address: what was really applied."""
    p = project.path / ".mlform" / "testing-objects.json"
    return json.loads(p.read_text()) if p.exists() else {}


def _applied(project: Project) -> dict[str, Any]:
    """Every object the provider holds: address -> its attributes."""
    return {o["address"]: o["attributes"] for o in _objects(project).values()}


def _recorded(doc: dict[str, Any]) -> dict[str, Any]:
    """Every resource a state document records: address -> its attributes."""
    return {r["address"]: r["attributes"] for r in doc["resources"]}


def _ports(doc: dict[str, Any]) -> dict[str, int]:
    return {r["address"]: r["attributes"]["port"] for r in doc["resources"]
            if r["kind"] == "endpoint"}


def _after(address: str, then: Callable[[], None]) -> None:
    """Once the provider has applied ``address``, run ``then`` (the fault starts)."""
    def hook(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == address:
            then()
        return resp
    TestProvider.hooks["apply_change"] = hook


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and "This is a bug in mlform" not in output, output


def _lock_id(output: str) -> str:
    m = re.search(r"mlform force-unlock (\S+)", output)
    assert m, output
    return m.group(1)


@pytest.fixture
def bucket(moto_server: str) -> str:
    name = f"mlf-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_proxy(moto_server: str, fault_proxy: Callable[[str], FaultProxy]) -> FaultProxy:
    return fault_proxy(moto_server)


def _s3_state(bucket: str) -> dict[str, Any]:
    body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=bucket, Key=KEY)["Body"]
    return json.loads(body.read())  # type: ignore[no-any-return]


def test_s3_500_at_the_final_write_leaves_the_errored_file_and_push_restores_it(
        tmp_project: Project, bucket: str, s3_proxy: FaultProxy) -> None:
    _s3_project(tmp_project, bucket, s3_proxy.url)
    s3_proxy.fail(rf"^PUT /{bucket}/{re.escape(KEY)}(\?|$)", "500")

    r = tmp_project.run("apply", "--auto-approve", env=FAST_S3)

    assert r.exit_code == 1, r
    _no_traceback(r.output)
    assert s3_proxy.failed, r
    diags = [d for d in parse_diagnostics(r.output) if d.severity == "Error"]
    assert [d.summary for d in diags] == ["Failed to persist the state"], r.output
    assert "mlform state push errored.mlform.state.json" in diags[0].detail
    assert "500" in diags[0].detail or "InternalError" in diags[0].detail
    errored = json.loads((tmp_project.path / ERRORED).read_text())
    assert _recorded(errored) == _applied(tmp_project)
    assert _ports(errored) == {
        "endpoint.a": 8001, "endpoint.b": 8002, "endpoint.c": 8003}
    assert (tmp_project.path / ERRORED).stat().st_mode & 0o777 == 0o600

    s3_proxy.clear()
    r = tmp_project.run("state", "push", ERRORED, env=FAST_S3)
    assert r.exit_code == 0, r
    pushed = _s3_state(bucket)
    assert _recorded(pushed) == _recorded(errored)
    assert pushed["lineage"] == errored["lineage"]
    assert [h["outcome"] for h in pushed["history"]] == ["succeeded"]
    r = tmp_project.run("plan", "--detailed-exitcode", env=FAST_S3)
    assert r.exit_code == 0, r


def test_s3_network_down_mid_apply_errored_file_force_unlock_then_push(
        tmp_project: Project, bucket: str, s3_proxy: FaultProxy) -> None:
    # The lock is an S3 object here (no table): it cannot be released either.
    _s3_project(tmp_project, bucket, s3_proxy.url)
    _after("endpoint.c", lambda: s3_proxy.fail(".", "drop"))

    r = tmp_project.run("apply", "--auto-approve", env=FAST_S3)

    assert r.exit_code == 1, r
    _no_traceback(r.output)
    summaries = [d.summary for d in parse_diagnostics(r.output) if d.severity == "Error"]
    assert summaries == ["Failed to persist the state", "Error releasing the state lock"], r.output
    errored = json.loads((tmp_project.path / ERRORED).read_text())
    # endpoint.c's outcome never reached the journal; the errored file has it.
    assert _recorded(errored) == _applied(tmp_project)
    assert _ports(errored) == {
        "endpoint.a": 8001, "endpoint.b": 8002, "endpoint.c": 8003}

    s3_proxy.clear()
    lock_id = _lock_id(r.output)
    r = tmp_project.run("state", "push", ERRORED, env=FAST_S3)
    assert r.exit_code == 1 and "Error acquiring the state lock" in r.output, r
    r = tmp_project.run("force-unlock", lock_id, "--force", env=FAST_S3)
    assert r.exit_code == 0, r
    r = tmp_project.run("state", "push", ERRORED, env=FAST_S3)
    assert r.exit_code == 0, r
    assert _recorded(_s3_state(bucket)) == _recorded(errored)
    r = tmp_project.run("plan", "--detailed-exitcode", env=FAST_S3)
    assert r.exit_code == 0, r


@pytest.fixture
def lock_table(moto_server: str) -> str:
    name = f"mlf-{uuid.uuid4().hex[:12]}-locks"
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
    return name


def test_s3_credentials_expiring_mid_apply_start_nothing_new_and_lose_nothing(
        tmp_project: Project, bucket: str, lock_table: str, s3_proxy: FaultProxy) -> None:
    _s3_project(tmp_project, bucket, s3_proxy.url, lock_table=lock_table)
    _after("endpoint.b", lambda: s3_proxy.fail(".", "expired"))

    r = tmp_project.run("apply", "--auto-approve", env=FAST_S3)

    assert r.exit_code == 1, r
    _no_traceback(r.output)
    diags = [d for d in parse_diagnostics(r.output) if d.severity == "Error"]
    # The resource's own error first (at its block), then where the state went, then the lock.
    assert [d.summary for d in diags] == [
        "Failed to record the state", "Failed to persist the state", "Error releasing the state lock"], r.output
    assert diags[0].location == "main.mlf.hcl:20:1" and "endpoint.c was not started" in diags[0].detail
    assert "Not started, because the state could not record them first: endpoint.c;" in diags[1].detail
    assert "ExpiredToken" in diags[1].detail
    # b was created and is recorded; c was never started.
    errored = json.loads((tmp_project.path / ERRORED).read_text())
    assert _recorded(errored) == _applied(tmp_project)
    assert _ports(errored) == {"endpoint.a": 8001, "endpoint.b": 8002}

    s3_proxy.clear()
    r = tmp_project.run("force-unlock", _lock_id(r.output), "--force", env=FAST_S3)
    assert r.exit_code == 0, r
    r = tmp_project.run("state", "push", ERRORED, env=FAST_S3)
    assert r.exit_code == 0, r
    r = tmp_project.run("apply", "--auto-approve", env=FAST_S3)
    assert r.exit_code == 0, r
    assert "1 added, 0 changed, 0 destroyed" in r.stdout, r
    assert _recorded(_s3_state(bucket)) == _applied(tmp_project)
    assert _ports(_s3_state(bucket)) == {"endpoint.a": 8001, "endpoint.b": 8002, "endpoint.c": 8003}


def test_s3_a_transient_journal_failure_mid_apply_costs_one_full_write(
        tmp_project: Project, bucket: str, s3_proxy: FaultProxy) -> None:
    # The put of endpoint.a's outcome fails once (both tries); the next intent
    # starts over from a full write and the apply completes.
    _s3_project(tmp_project, bucket, s3_proxy.url)
    _after("endpoint.a", lambda: s3_proxy.fail(rf"^PUT /{bucket}/{re.escape(KEY)}\.journal/", "500", times=2))

    r = tmp_project.run("apply", "--auto-approve", env=FAST_S3)

    assert r.exit_code == 0, r
    assert len(s3_proxy.failed) == 2
    assert not (tmp_project.path / ERRORED).exists()
    assert _recorded(_s3_state(bucket)) == _applied(tmp_project)
    r = tmp_project.run("plan", "--detailed-exitcode", env=FAST_S3)
    assert r.exit_code == 0, r


# -- GCS -----------------------------------------------------------------------------


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from google.cloud import storage

    from mlform.engine.state.backends import gcs

    monkeypatch.setattr(gcs, "RETRY_TIMEOUT_S", 1.0)  # a fault lasts until cleared
    name = f"mlf-{uuid.uuid4().hex[:12]}"
    storage.Client().create_bucket(name)
    return name


def _gcs_state(bucket: str) -> dict[str, Any]:
    from google.cloud import storage

    return json.loads(storage.Client().bucket(bucket).blob(KEY).download_as_bytes())  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_gcs_failing_final_write_leaves_the_errored_file_and_push_restores_it(
        tmp_project: Project, gcs_bucket: str, gcs_emulator: str,
        fault_proxy: Callable[[str], FaultProxy], mode: str) -> None:
    proxy = fault_proxy(gcs_emulator)
    env = {"STORAGE_EMULATOR_HOST": proxy.url}
    _write(tmp_project, f'''
mlform {{
  backend "gcs" {{
    bucket = "{gcs_bucket}"
    prefix = "envs/prod"
  }}
}}
''')
    # The document's upload names the object in its multipart body.
    proxy.fail(r"^POST /upload/", mode, body=rf'"name": "{re.escape(KEY)}"')

    r = tmp_project.run("apply", "--auto-approve", env=env)

    assert r.exit_code == 1, r
    _no_traceback(r.output)
    assert proxy.failed, "the fault never hit the state write"
    diags = [d for d in parse_diagnostics(r.output) if d.severity == "Error"]
    assert [d.summary for d in diags] == ["Failed to persist the state"], r.output
    assert "mlform state push errored.mlform.state.json" in diags[0].detail
    errored = json.loads((tmp_project.path / ERRORED).read_text())
    assert _recorded(errored) == _applied(tmp_project)
    assert _ports(errored) == {
        "endpoint.a": 8001, "endpoint.b": 8002, "endpoint.c": 8003}

    proxy.clear()
    r = tmp_project.run("state", "push", ERRORED, env=env)
    assert r.exit_code == 0, r
    assert _recorded(_gcs_state(gcs_bucket)) == _recorded(errored)
    r = tmp_project.run("plan", "--detailed-exitcode", env=env)
    assert r.exit_code == 0, r
