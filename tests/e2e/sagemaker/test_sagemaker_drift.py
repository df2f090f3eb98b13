"""Drift on SageMaker-on-moto seen by `mlform plan` and put right by `mlform apply`: an endpoint deleted, its
config swapped, its instance count changed outside mlform; `mlform import` adopts an endpoint by name."""

from __future__ import annotations

from typing import Any

from tests.e2e.sagemaker.test_sagemaker_lifecycle import config, ep_of
from tests.fixtures.project import Project
from tests.fixtures.sagemaker_moto import SageMakerMoto


def _apply(p: Project) -> None:
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output


def _wait(sm: Any, name: str) -> None:
    for _ in range(10):
        if sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService":
            return


def test_drift_is_shown_and_repaired(tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    sm = sagemaker_moto.client("sagemaker")
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto))
    _apply(tmp_project)
    st = ep_of(tmp_project)
    name = st["endpoint_name"]

    # the instance count changed in the console
    sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
        {"VariantName": st["variant_name"], "DesiredInstanceCount": 3}])
    r = tmp_project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert "replicas" in r.stdout and "3" in r.stdout
    _apply(tmp_project)
    assert sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["CurrentInstanceCount"] == 1

    # the config swapped for one made by hand
    sm.create_endpoint_config(EndpointConfigName=f"{name}-manual", ProductionVariants=[
        {"VariantName": "manual", "ModelName": ep_of(tmp_project)["model_name"], "InstanceType": "ml.c5.large",
         "InitialInstanceCount": 1}])
    sm.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-manual")
    _wait(sm, name)
    r = tmp_project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert "endpoint config of endpoint.e was swapped outside mlform" in r.output
    _apply(tmp_project)
    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointConfigName"] != f"{name}-manual"
    assert ep["ProductionVariants"][0]["VariantName"] == st["variant_name"]
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0

    # the endpoint deleted
    sm.delete_endpoint(EndpointName=name)
    r = tmp_project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert "SageMaker endpoint of endpoint.e is gone" in r.output
    _apply(tmp_project)
    _wait(sm, name)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    assert tmp_project.run("destroy", "--auto-approve").exit_code == 0


def test_import_by_endpoint_name(tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    sm = sagemaker_moto.client("sagemaker")
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto))
    _apply(tmp_project)
    name = ep_of(tmp_project)["endpoint_name"]
    assert tmp_project.run("state", "rm", "endpoint.e").exit_code == 0
    r = tmp_project.run("import", "endpoint.e", name)
    assert r.exit_code == 0, r.output
    assert ep_of(tmp_project)["endpoint_name"] == name
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r.output  # the same model and settings: nothing created, replaced or rolled out
    assert "will be created" not in r.stdout and "must be replaced" not in r.stdout and "# rollout" not in r.stdout
    config_name = ep_of(tmp_project)["endpoint_config_name"]
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == config_name
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0
    r = tmp_project.run("import", "endpoint.other", "no-such-endpoint")
    assert r.exit_code != 0 and "does not exist" in r.output and "Traceback" not in r.output
    assert tmp_project.run("destroy", "--auto-approve").exit_code == 0
    assert name not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
