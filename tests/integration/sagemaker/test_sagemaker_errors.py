"""What the sagemaker provider says to people: settings checked at their lines, the dated price table
behind list_hardware and the plan's estimate, and AWS errors (answered by moto, fault-injected by the
fixture where moto has no IAM or quotas) as diagnostics at the endpoint's line - never a traceback."""

from __future__ import annotations

import json

from mlform.engine.providers.protocol import ConfigureRequest, ProviderContext
from mlform.providers.sagemaker import SageMakerProvider
from mlform.providers.sagemaker.schema import TABLE
from tests.fixtures.project import Project
from tests.fixtures.sagemaker_moto import SageMakerMoto


def config(sm: SageMakerMoto, endpoint: str = '  instance_type = "ml.m5.large"\n', provider: str = "") -> str:
    return (sm.provider_block(provider) + 'model "m" {\n  source = "models/model.onnx"\n}\n'
            'endpoint "e" {\n  provider = provider.sagemaker\n  model    = model.m\n' + endpoint + "}\n")


def test_list_hardware_is_the_dated_table(tmp_project: Project) -> None:
    p = SageMakerProvider()
    p.configure(ConfigureRequest({"region": "us-east-1", "execution_role_arn": "arn:aws:iam::1:role/r",
                                  "artifact_bucket": "b"},
                                 ProviderContext(tmp_project.path, tmp_project.path / ".mlform", "sagemaker")))
    options = {o.name: o for o in p.list_hardware().options}
    assert set(options) == set(TABLE["instance_types"]) and TABLE["as_of"] and TABLE["source"].startswith("https://")
    assert all(o.as_of == TABLE["as_of"] and o.price_per_hour > 0 for o in options.values())
    assert options["ml.g4dn.xlarge"].accelerator == "nvidia-t4" and options["ml.m5.large"].accelerator == "none"


def test_the_plan_prices_type_and_count(tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, '  instance_type  = "ml.c5.xlarge"\n'
                                                             '  instance_count = 3\n'))
    r = tmp_project.run("plan", "--out", "p.plan")
    assert r.exit_code == 0, r.output
    want = round(TABLE["instance_types"]["ml.c5.xlarge"]["price_per_hour"] * 3, 4)
    shown = json.loads(tmp_project.run("show", "--json", "p.plan").stdout)
    ep = next(c for c in shown["resource_changes"] if c["address"] == "endpoint.e")
    assert ep["change"]["after"]["estimated_cost_per_hour"] == want
    assert ep["change"]["after"]["instance_type"] == "ml.c5.xlarge" and ep["change"]["after"]["replicas"] == 3
    assert f"${want:.2f}/h" in r.stdout


def test_settings_are_checked_at_their_lines(tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, '  instance_type = "m5.large"\n'))
    r = tmp_project.run("validate")
    assert r.exit_code == 1
    assert "Error: Invalid instance type 'm5.large'" in r.stderr and "main.mlf.hcl:13:" in r.stderr, r.stderr
    assert "ml.m5.large" in r.stderr  # the closest valid one
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, "  serverless_memory_mb = 1500\n"))
    r = tmp_project.run("validate")
    assert "Error: Invalid serverless_memory_mb" in r.stderr and "Traceback" not in r.output


def _apply_fails(p: Project) -> str:
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output.lower()
    return r.stderr


def test_aws_errors_for_people(tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    sm = sagemaker_moto
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sm))

    sm.fail_next("CreateEndpoint", "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ci is not "
                 "authorized to perform: sagemaker:CreateEndpoint")
    err = _apply_fails(tmp_project)
    assert "Access denied: sagemaker:CreateEndpoint on mlform-e" in err and "main.mlf.hcl:" in err, err
    client = sm.client("sagemaker")  # what the refused apply made for the endpoint is not left behind
    assert client.list_endpoint_configs()["EndpointConfigs"] == [] or all(
        not c["EndpointConfigName"].startswith("mlform-e-") for c in client.list_endpoint_configs()["EndpointConfigs"])
    assert not any(m["ModelName"].startswith("mlform-e-") for m in client.list_models()["Models"])

    sm.fail_next("CreateEndpointConfig", "ResourceLimitExceeded", "The account-level service limit "
                 "'ml.m5.large for endpoint usage' is 0 Instances")
    err = _apply_fails(tmp_project)
    assert "Quota exceeded: sagemaker:CreateEndpointConfig" in err and "Service Quotas" in err, err

    sm.fail_next("CreateEndpointConfig", "ValidationException", "Value 'ml.m5.larg' at 'instanceType' failed "
                 "to satisfy constraint: Instance type is not valid")
    err = _apply_fails(tmp_project)
    assert "Instance type ml.m5.larg is not valid" in err and "ml.m5.large" in err, err

    sm.fail_next("CreateEndpoint", "ThrottlingException", "Rate exceeded", times=6)
    err = _apply_fails(tmp_project)
    assert "AWS throttled sagemaker:CreateEndpoint" in err, err

    sm.fail_next("CreateEndpoint", "ThrottlingException", "Rate exceeded", times=2)  # retried, then it works
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    assert tmp_project.run("destroy", "--auto-approve").exit_code == 0
