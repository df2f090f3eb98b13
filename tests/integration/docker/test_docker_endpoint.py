"""The docker provider on a real Docker engine (tests/fixtures/docker_engine.py): an
endpoint's containers created, served through the router, drift seen by plan, errors
at the endpoint's source line, destroyed with every container gone."""

from __future__ import annotations

import httpx
import pytest

ROW = {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]}


def config(engine, extra: str = "", provider: str = "") -> str:
    return f"""
provider "docker" {{
  host   = "{engine.host}"
  python = "{engine.python}"
  {provider}
}}

model "m" {{
  source = "models/model.onnx"
  format = "onnx"
}}

endpoint "clf" {{
  provider = provider.docker
  model    = model.m
  image    = "{engine.image}"
  {engine.mounts_hcl()}
  {extra}
}}
"""


def labelled(engine, address: str = "endpoint.clf") -> list:
    return engine.client().containers.list(all=True, filters={"label": [f"mlform.address={address}"]})


def test_endpoint_lifecycle_and_drift(tmp_project, docker_engine):
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(docker_engine, 'replicas = 2\n  memory = "1g"\n  cpus = 1'))
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 0, r.output
    ep = next(x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.clf")
    url = ep["attributes"]["url"]
    assert url.startswith("http://127.0.0.1:")
    names = ep["attributes"]["containers"]
    assert len(names) == 3 and any(n.endswith("-router") for n in names)  # router + 2 replicas
    ctrs = labelled(docker_engine)
    assert sorted(c.name for c in ctrs) == sorted(names)
    ver = next(c for c in ctrs if c.labels["mlform.role"] == "version")
    assert ver.attrs["HostConfig"]["Memory"] == 1 << 30 and ver.attrs["HostConfig"]["NanoCpus"] == 10**9
    assert ver.attrs["Config"]["Healthcheck"]["Test"][-1].endswith("/v2/health/ready', timeout=2)")
    ports = ver.attrs["HostConfig"]["PortBindings"]["8000/tcp"][0]
    assert ports["HostIp"] == "127.0.0.1"
    for _ in range(6):
        resp = httpx.post(f"{url}/v2/models/clf/infer", json=ROW, timeout=10)
        assert resp.status_code == 200, resp.text
    assert tmp_project.run("plan", "-detailed-exitcode").exit_code == 0

    # Stopped outside mlform: plan shows it, apply brings it back.
    docker_engine.client().containers.get(names[0]).stop(timeout=1)
    r = tmp_project.run("plan")
    assert "is exited, not running" in r.output and "changed outside mlform" in r.output, r.output
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 0, r.output
    url = next(x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.clf")["attributes"]["url"]
    assert httpx.post(f"{url}/v2/models/clf/infer", json=ROW, timeout=10).status_code == 200

    r = tmp_project.run("destroy", "-auto-approve")
    assert r.exit_code == 0, r.output
    assert labelled(docker_engine) == []


def test_build_path_and_port_taken(tmp_project, docker_engine):
    import socket

    tmp_project.copy_model()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        hcl = config(docker_engine, f"port = {port}", provider=f'base_image = "{docker_engine.image}"')
        tmp_project.write("main.mlf.hcl", hcl.replace(f'image    = "{docker_engine.image}"', ""))
        r = tmp_project.run("apply", "-auto-approve")
        assert r.exit_code == 1
        assert f"Port {port} is already in use" in r.output and "main.mlf.hcl:" in r.output, r.output
        assert "Traceback" not in r.output
    r = tmp_project.run("apply", "-auto-approve")  # the port is free now: the image is built and served
    assert r.exit_code == 0, r.output
    ep = next(x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.clf")
    assert ep["attributes"]["url"] == f"http://127.0.0.1:{port}"
    img = docker_engine.client().images.get(ep["attributes"]["image_id"])
    assert img.labels.get("mlform.built") == "1" and any(t.startswith("mlform-model:") for t in img.tags)
    assert httpx.post(f"http://127.0.0.1:{port}/v2/models/clf/infer", json=ROW, timeout=10).status_code == 200
    assert "building mlform-model:" in r.output, r.output  # the build streamed as progress
    assert tmp_project.run("destroy", "-auto-approve").exit_code == 0
    # Same model, same base image: the image built before is reused, not built again.
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 0, r.output
    again = next(x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.clf")
    assert again["attributes"]["image_id"] == ep["attributes"]["image_id"] and "building" not in r.output
    assert tmp_project.run("destroy", "-auto-approve").exit_code == 0


def test_errors_at_the_endpoint(tmp_project, docker_engine, tmp_path):
    tmp_project.copy_model()
    hcl = config(docker_engine).replace(docker_engine.host, f"unix://{tmp_path}/nothing.sock")
    tmp_project.write("main.mlf.hcl", hcl)
    r = tmp_project.run("plan")
    assert r.exit_code == 1
    assert f"Cannot reach the Docker engine at unix://{tmp_path}/nothing.sock" in r.output, r.output
    assert "Is dockerd running" in r.output and "main.mlf.hcl:" in r.output and "Traceback" not in r.output

    tmp_project.write("main.mlf.hcl", config(docker_engine).replace(docker_engine.image, "mlform-no-such:1"))
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 1
    assert "Image mlform-no-such:1 not found" in r.output and "main.mlf.hcl:" in r.output, r.output

    tmp_project.write("main.mlf.hcl", config(docker_engine, 'memory = "8m"'))
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 1
    assert "ran out of memory" in r.output and "Raise memory" in r.output, r.output
    assert labelled(docker_engine) == []


def test_logs_import_and_orphan_free_destroy(tmp_project, docker_engine):
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(docker_engine))
    assert tmp_project.run("apply", "-auto-approve").exit_code == 0
    names = next(x for x in tmp_project.state()["resources"]
                 if x["address"] == "endpoint.clf")["attributes"]["containers"]
    router = next(n for n in names if n.endswith("-router"))
    r = tmp_project.run("logs", "endpoint.clf")
    assert r.exit_code == 0, r.output
    assert f"{router} | " in r.output and "routing clf" in r.output, r.output
    assert "serving clf on http://0.0.0.0:8000" in r.output, r.output

    # Forgotten by state, adopted again by its router container's name.
    assert tmp_project.run("state", "rm", "endpoint.clf").exit_code == 0
    r = tmp_project.run("import", "endpoint.clf", "no-such-container")
    assert r.exit_code == 1 and "No container no-such-container on the Docker engine" in r.output, r.output
    r = tmp_project.run("import", "endpoint.clf", router)
    assert r.exit_code == 0, r.output
    ep = next(x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.clf")
    assert sorted(ep["attributes"]["containers"]) == sorted(names)
    assert tmp_project.run("refresh").exit_code == 0
    assert tmp_project.run("destroy", "-auto-approve").exit_code == 0
    assert labelled(docker_engine) == []


def test_plan_shows_gpus_and_limits(tmp_project, docker_engine):
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(docker_engine, 'gpus = 1\n  memory = "2g"'))
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r.output
    assert "+ gpus" in r.output and "= 1" in r.output, r.output
    assert '"cuda"' in r.output or "cuda" in r.output
    assert "instance_type" in r.output and "docker" in r.output


def test_containers_started_by_a_killed_apply_are_adopted(tmp_project, docker_engine):
    import os
    import signal
    import subprocess
    import sys
    import time

    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(docker_engine))
    adopt = tmp_project.path / ".mlform" / "docker" / "clf" / "adopt.json"
    proc = subprocess.Popen([sys.executable, "-m", "mlform.engine.cli.main", "apply", "-auto-approve"],
                            cwd=tmp_project.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MLFORM_TEST_PAUSE_AFTER_SERVER_START": "60"})
    try:
        deadline = time.monotonic() + 120
        while not adopt.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert adopt.exists(), "the apply never started the containers"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = sorted(c.id for c in labelled(docker_engine))
    assert len(before) == 2  # router + one version container, not recorded
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 0, r.output
    assert sorted(c.id for c in labelled(docker_engine)) == before  # adopted, not started again
    ep = next(x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.clf")
    assert httpx.post(f"{ep['attributes']['url']}/v2/models/clf/infer", json=ROW, timeout=10).status_code == 200
    assert tmp_project.run("destroy", "-auto-approve").exit_code == 0
