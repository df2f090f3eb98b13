"""A SageMaker endpoint through the CLI against moto (tests/fixtures/sagemaker_moto.py: moto extended with
status transitions and UpdateEndpoint): create, a changed model and instance count updated in place (never
deleting what serves), drift seen by plan and put right by apply, import by name, destroy in reverse."""

from __future__ import annotations

import json
from typing import Any

from tests.fixtures.project import Project
from tests.fixtures.sagemaker_moto import SageMakerMoto


def config(sm: SageMakerMoto, endpoint: str = "") -> str:
    return (sm.provider_block() + 'model "m" {\n  source = "models/model.onnx"\n}\n'
            'endpoint "e" {\n  provider      = provider.sagemaker\n  model         = model.m\n'
            '  instance_type = "ml.m5.large"\n' + endpoint + "}\n")


def ep_of(p: Project) -> dict[str, Any]:
    res = next(r for r in p.state()["resources"] if r.get("address", "").startswith("endpoint.e")
               or r.get("type") == "endpoint")
    inst = res["instances"][0] if "instances" in res else res
    return inst.get("attributes", inst)  # type: ignore[no-any-return]


def test_create_update_destroy(tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    sm = sagemaker_moto.client("sagemaker")
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto))
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    st = ep_of(tmp_project)
    name = st["endpoint_name"]
    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointStatus"] == "InService" and ep["EndpointConfigName"] == st["endpoint_config_name"]
    cfg = sm.describe_endpoint_config(EndpointConfigName=st["endpoint_config_name"])
    v = cfg["ProductionVariants"][0]
    assert v["InstanceType"] == "ml.m5.large" and v["InitialInstanceCount"] == 1
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=ep["EndpointArn"])["Tags"]}
    assert tags["mlform-address"] == "endpoint.e" and tags["mlform-operation"]
    model = sm.describe_model(ModelName=st["model_name"])
    key = model["PrimaryContainer"]["ModelDataUrl"].split("/", 3)[3]
    assert key.endswith("/model.tar.gz")
    sagemaker_moto.client("s3").head_object(Bucket=sagemaker_moto.bucket, Key=key)
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0  # no changes

    # a new instance count: a new config put in place by UpdateEndpoint, the old one deleted after
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, "  instance_count = 2\n"))
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    st2 = ep_of(tmp_project)
    assert st2["endpoint_name"] == name and st2["endpoint_config_name"] != st["endpoint_config_name"]
    assert sagemaker_moto.deployments(name)[-1]["EndpointConfigName"] == st2["endpoint_config_name"]
    live = sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert live["CurrentInstanceCount"] == 2
    names = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert st["endpoint_config_name"] not in names and st2["endpoint_config_name"] in names
    assert st2["model_name"] == st["model_name"]  # same weights: the Model is kept
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0

    r = tmp_project.run("destroy", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert name not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    assert st2["endpoint_config_name"] not in [c["EndpointConfigName"]
                                               for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert st["model_name"] not in [m["ModelName"] for m in sm.list_models()["Models"]]
    json.dumps(st)
