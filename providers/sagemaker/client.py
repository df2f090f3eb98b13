"""The AWS calls mlform makes, through real boto3 clients (parameter validation on).

Credentials come from boto3's standard chain. ``endpoint_url`` (tests,
examples/sagemaker: a moto server) is used for every service. Throttling is
retried with exponential backoff (0.2 s doubling, 6 tries) before it becomes a
diagnostic; other API errors become :class:`SageMakerError`, said for people:
which action on which resource, which quota, the closest valid instance types.
Waits poll DescribeEndpoint (0.2 s growing to 5 s) with progress until
``timeout_seconds``.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import time
from pathlib import Path
from typing import Any, Callable

from mlform.engine.diagnostics import Diagnostics
from mlform.providers.sagemaker.schema import DEFAULT_TIMEOUT_S, closest_instance_types

Progress = Callable[..., None]
THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
             "SlowDown"}
TRIES = 6


class SageMakerError(Exception):
    def __init__(self, summary: str, detail: str, path: tuple[str, ...] | None = None, code: str = "") -> None:
        super().__init__(summary)
        self.summary, self.detail, self.path, self.code = summary, detail, path, code

    def add_to(self, d: Diagnostics) -> None:
        d.error(self.summary, self.detail, path=self.path)


def name_part(value: str, limit: int = 63) -> str:
    """``value`` as a SageMaker name: letters, digits and single hyphens."""
    return re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]+", "-", value)).strip("-")[:limit].rstrip("-")


def explain(e: Exception, action: str, resource: str) -> SageMakerError:
    code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
    msg = getattr(e, "response", {}).get("Error", {}).get("Message", "") or str(e)
    if code in THROTTLED:
        return SageMakerError(f"AWS throttled {action} on {resource}",
                              f"{action} was throttled {TRIES} times in a row. Wait a minute and run the command "
                              f"again, or ask AWS for a higher request rate. AWS said: {msg}", code="throttled")
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation") or "not authorized" in msg:
        return SageMakerError(f"Access denied: {action} on {resource}",
                              f"The credentials mlform runs with may not call {action} on {resource}. Allow it in "
                              f"their IAM policy (docs/sagemaker.md lists every action mlform uses). AWS said: {msg}",
                              code="access")
    if code == "ResourceLimitExceeded" or "quota" in msg.lower():
        return SageMakerError(f"Quota exceeded: {action} on {resource}",
                              "The account has no quota left for this in the region. Request an increase in "
                              "Service Quotas (SageMaker), or lower instance_count or pick a smaller instance_type. "
                              f"AWS said: {msg}", path=("instance_count",), code="quota")
    it = re.search(r"(ml\.[a-z0-9]+\.[a-z0-9]+)", msg)
    if code == "ValidationException" and it and "nstance" in msg:
        return SageMakerError(f"Instance type {it.group(1)} is not valid for SageMaker endpoints here",
                              f"Closest valid ones: {', '.join(closest_instance_types(it.group(1)))}. AWS said: "
                              f"{msg}", path=("instance_type",), code="instance_type")
    return SageMakerError(f"{action} failed on {resource}", f"AWS said ({code or type(e).__name__}): {msg}",
                          code=code)


def model_tarball(path: Path) -> bytes:
    """``path`` packed as SageMaker expects (model.tar.gz, the file at its root), byte-for-byte reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(path.name)
        info.size, info.mtime, info.mode = path.stat().st_size, 0, 0o644
        with path.open("rb") as f:
            tar.addfile(info, f)
    return gzip.compress(raw.getvalue(), mtime=0)


class Api:
    def __init__(self, config: dict[str, Any]) -> None:
        import boto3
        from botocore.config import Config

        self.region = str(config["region"])
        self.role = str(config["execution_role_arn"])
        bucket = str(config["artifact_bucket"]).removeprefix("s3://")
        self.bucket, _, prefix = bucket.partition("/")
        self.prefix = (prefix.strip("/") + "/") if prefix.strip("/") else ""
        self.timeout = float(config.get("timeout_seconds") or DEFAULT_TIMEOUT_S)
        self.endpoint_url = config.get("endpoint_url") or None
        session = boto3.session.Session(region_name=self.region)
        cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60)
        self._clients = {s: session.client(s, endpoint_url=self.endpoint_url, config=cfg)
                         for s in ("sagemaker", "s3", "cloudwatch", "sagemaker-runtime", "application-autoscaling")}
        self.sleep: Callable[[float], None] = time.sleep

    def client(self, service: str) -> Any:
        return self._clients[service]

    def call(self, service: str, action: str, resource: str, **params: Any) -> Any:
        """One API call: ``action`` (CamelCase) on ``resource``, throttling retried with backoff."""
        from botocore.exceptions import BotoCoreError, ClientError

        method = getattr(self._clients[service], re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower())
        delay, iam = 0.2, {"sagemaker-runtime": "sagemaker"}.get(service, service)  # the IAM action's prefix
        for attempt in range(TRIES):
            try:
                return method(**params)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in THROTTLED and attempt < TRIES - 1:
                    self.sleep(delay)
                    delay *= 2
                    continue
                raise explain(e, f"{iam}:{action}", resource) from None
            except BotoCoreError as e:
                raise SageMakerError(f"{iam}:{action} failed on {resource}", f"{e}. Check the provider's region and "
                                     "endpoint_url, and the network.", code="connection") from None
        raise AssertionError("unreachable")

    # --- artifacts ------------------------------------------------------------------------
    def artifact_uri(self, digest: str) -> str:
        return f"s3://{self.bucket}/{self.key(digest)}"

    def key(self, digest: str) -> str:
        return f"{self.prefix}mlform/models/{digest.split(':')[-1]}/model.tar.gz"

    def upload_artifact(self, path: Path, digest: str, progress: Progress) -> str:
        key = self.key(digest)
        from botocore.exceptions import ClientError

        try:
            self._clients["s3"].head_object(Bucket=self.bucket, Key=key)
            progress(f"artifact already in s3://{self.bucket}/{key}")
            return self.artifact_uri(digest)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise explain(e, "s3:GetObject", f"s3://{self.bucket}/{key}") from None
        progress(f"uploading model.tar.gz to s3://{self.bucket}/{key}")
        self.call("s3", "PutObject", f"s3://{self.bucket}/{key}", Bucket=self.bucket, Key=key,
                  Body=model_tarball(path), ContentType="application/gzip")
        return self.artifact_uri(digest)

    # --- endpoints ------------------------------------------------------------------------
    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return dict(self._clients["sagemaker"].describe_endpoint(EndpointName=name))
        except ClientError as e:
            if "Could not find" in e.response.get("Error", {}).get("Message", ""):
                return None
            raise explain(e, "sagemaker:DescribeEndpoint", name) from None

    def describe_config(self, name: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return dict(self._clients["sagemaker"].describe_endpoint_config(EndpointConfigName=name))
        except ClientError as e:
            if "Could not find" in e.response.get("Error", {}).get("Message", ""):
                return None
            raise explain(e, "sagemaker:DescribeEndpointConfig", name) from None

    def wait(self, name: str, progress: Progress, what: str) -> dict[str, Any]:
        """Poll until ``name`` is InService; a failure or the timeout is a :class:`SageMakerError`."""
        start, delay = time.monotonic(), 0.2
        while True:
            ep = self.describe_endpoint(name)
            if ep is None:
                raise SageMakerError(f"Endpoint {name} disappeared while {what}", "It was deleted outside mlform. "
                                     "Run `mlform apply` again to create it.")
            status = ep.get("EndpointStatus")
            elapsed = time.monotonic() - start
            if status == "InService":
                return ep
            if status in ("Failed", "OutOfService"):
                raise SageMakerError(f"Endpoint {name} is {status} after {what}",
                                     f"SageMaker said: {ep.get('FailureReason') or 'no reason given'}. Check the "
                                     "image, the artifact and the execution role's permissions.")
            if elapsed > self.timeout:
                raise SageMakerError(f"Endpoint {name} still {status} after {self.timeout:g} s",
                                     "Raise the provider's timeout_seconds, or look at the endpoint's events in the "
                                     "SageMaker console.", code="timeout")
            progress(f"{what}: {name} is {status} ({elapsed:.0f}s)", fraction=min(0.95, elapsed / self.timeout))
            self.sleep(delay)
            delay = min(delay * 1.5, 5.0)

    def tags(self, arn: str) -> dict[str, str]:
        out = self.call("sagemaker", "ListTags", arn, ResourceArn=arn)
        return {t["Key"]: t["Value"] for t in out.get("Tags", [])}

    def endpoints(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.call("sagemaker", "ListEndpoints", "endpoints", MaxResults=100,
                             **({"NextToken": token} if token else {}))
            found.extend(page.get("Endpoints", []))
            token = page.get("NextToken")
            if not token:
                return found

    def delete(self, kind: str, name: str) -> None:
        """Delete a Model, EndpointConfig or Endpoint; one already gone is fine."""
        key = {"Model": "ModelName", "EndpointConfig": "EndpointConfigName", "Endpoint": "EndpointName"}[kind]
        try:
            self.call("sagemaker", f"Delete{kind}", name, **{key: name})
        except SageMakerError as e:
            if "Could not find" not in e.detail:
                raise


__all__ = ["Api", "Progress", "SageMakerError", "explain", "model_tarball", "name_part"]
