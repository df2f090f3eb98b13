"""mlform vs Terraform on the same SageMaker stack, against the same moto, in the same run.

The stack: a model, its endpoint config, the endpoint, and a CloudWatch alarm - in Terraform four resources
(aws_sagemaker_model, aws_sagemaker_endpoint_configuration, aws_sagemaker_endpoint,
aws_cloudwatch_metric_alarm) with the AWS provider from the filesystem mirror; in mlform one `model` and one
`endpoint` block (mlform makes its alarms itself, from rollback_when, during native rollouts, so its stack
has none standing). moto runs in this process with the extensions of tests/fixtures/sagemaker_moto.py, an
endpoint InService at its first DescribeEndpoint (POLLS = 1), so neither tool waits on the fake.

Measured, each CLI run as a subprocess from a cold start (what a user types):
  apply from empty   `terraform apply -auto-approve` vs `mlform apply --auto-approve`
  no-op plan         `terraform plan` vs `mlform plan` on the applied stack
Figures are ratios mlform / Terraform from the same run. `--smoke`: one round (CI); default three, median.
Without the mirror (/opt/tf-plugins) or `terraform`, the Terraform row is skipped with a note.

    python bench/sagemaker.py [--smoke] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MIRROR = Path(os.environ.get("MLFORM_TF_MIRROR", "/opt/tf-plugins"))
MODEL = ROOT / "examples" / "quickstart" / "models" / "sentiment-v1.onnx"
ROLE = "arn:aws:iam::123456789012:role/mlform-sagemaker"

TF = '''terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = "5.100.0" }}
  }}
}}
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
    sagemaker  = "{url}"
    s3         = "{url}"
    cloudwatch = "{url}"
    sts        = "{url}"
    iam        = "{url}"
  }}
}}
resource "aws_sagemaker_model" "m" {{
  name               = "tf-{n}"
  execution_role_arn = "{role}"
  primary_container {{
    image          = "public.ecr.aws/mlform/v2-server:onnx"
    model_data_url = "s3://{bucket}/tf/model.tar.gz"
  }}
}}
resource "aws_sagemaker_endpoint_configuration" "c" {{
  name = "tf-{n}"
  production_variants {{
    variant_name           = "main"
    model_name             = aws_sagemaker_model.m.name
    instance_type          = "ml.m5.large"
    initial_instance_count = 1
  }}
}}
resource "aws_sagemaker_endpoint" "e" {{
  name                 = "tf-{n}"
  endpoint_config_name = aws_sagemaker_endpoint_configuration.c.name
}}
resource "aws_cloudwatch_metric_alarm" "errors" {{
  alarm_name          = "tf-{n}-errors"
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0.01
  comparison_operator = "GreaterThanThreshold"
  dimensions = {{
    EndpointName = aws_sagemaker_endpoint.e.name
    VariantName  = "main"
  }}
}}
'''

MLF = '''provider "sagemaker" {{
  region             = "us-east-1"
  execution_role_arn = "{role}"
  artifact_bucket    = "{bucket}"
  endpoint_url       = "{url}"
}}
model "m" {{
  source = "model.onnx"
}}
endpoint "b{n}" {{
  provider      = provider.sagemaker
  model         = model.m
  instance_type = "ml.m5.large"
}}
'''


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rounds = 1 if args.smoke else args.rounds

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    import tests.fixtures.sagemaker_moto as F
    from mlform.providers.sagemaker.client import model_tarball

    F.POLLS = 1
    F._install()
    work = Path(tempfile.mkdtemp(prefix="mlform-bench-sagemaker-"))
    F._ROOT["dir"] = work / "serving"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "CHECKPOINT_DISABLE": "1"}
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")})
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    sm = F.SageMakerMoto(url=url, bucket="mlform-bench")
    sm.client("s3").create_bucket(Bucket=sm.bucket)
    sm.client("s3").put_object(Bucket=sm.bucket, Key="tf/model.tar.gz", Body=model_tarball(MODEL))

    have_tf = shutil.which("terraform") is not None and (MIRROR / "registry.terraform.io").is_dir()
    rows: dict[str, list[float]] = {"tf_apply": [], "tf_plan": [], "mlf_apply": [], "mlf_plan": []}
    try:
        for i in range(rounds):
            if have_tf:
                tf = work / f"tf{i}"
                tf.mkdir()
                (tf / "main.tf").write_text(TF.format(url=url, n=i, role=ROLE, bucket=sm.bucket))
                (tf / "cli.tfrc").write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = '
                                             f'"{MIRROR}"\n  }}\n}}\n')
                tenv = {**env, "TF_CLI_CONFIG_FILE": str(tf / "cli.tfrc"), "TF_IN_AUTOMATION": "1"}
                timed(["terraform", "init", "-input=false"], tf, tenv)  # not timed: the provider install
                rows["tf_apply"].append(timed(["terraform", "apply", "-auto-approve", "-input=false"], tf, tenv))
                rows["tf_plan"].append(timed(["terraform", "plan", "-input=false", "-detailed-exitcode"], tf, tenv))
            mlf = work / f"mlf{i}"
            mlf.mkdir()
            shutil.copyfile(MODEL, mlf / "model.onnx")
            (mlf / "main.mlf.hcl").write_text(MLF.format(url=url, n=i, role=ROLE, bucket=sm.bucket))
            cli = [sys.executable, "-m", "mlform.engine.cli.main"]
            rows["mlf_apply"].append(timed([*cli, "apply", "--auto-approve"], mlf, env))
            rows["mlf_plan"].append(timed([*cli, "plan", "--detailed-exitcode"], mlf, env))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) if v else None for k, v in rows.items()}
    print(f"SageMaker stack on moto, {rounds} round(s), median seconds")
    print(f"{'':18}{'terraform':>12}{'mlform':>10}{'ratio':>9}{'target':>9}")
    for what, tfk, mk, target in (("apply from empty", "tf_apply", "mlf_apply", 0.5),
                                  ("no-op plan", "tf_plan", "mlf_plan", 0.2)):
        t, m = med[tfk], med[mk]
        if t is None:
            print(f"{what:18}{'skipped':>12}{m:>10.2f}   (no terraform or no mirror at {MIRROR})")
        else:
            assert m is not None
            print(f"{what:18}{t:>12.2f}{m:>10.2f}{m / t:>8.2f}x{target:>8.1f}x")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "sagemaker.json").write_text(json.dumps({"rounds": rounds, "median_s": med, "raw_s": rows}, indent=2))


if __name__ == "__main__":
    main()
