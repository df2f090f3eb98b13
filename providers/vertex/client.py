"""The Vertex AI calls mlform makes, through the real ``google-cloud-aiplatform`` clients.

Credentials are Application Default Credentials. An ``api_endpoint`` on
127.0.0.1/localhost (tests, examples/vertex) is reached over an insecure gRPC
channel with no credentials, and GCS then through ``STORAGE_EMULATOR_HOST``.
Long-running operations are polled (0.2 s growing to 5 s) with progress
until ``timeout_seconds``. API errors become :class:`VertexError`, a
diagnostic for people: which permission, which quota, which machine type.
"""

from __future__ import annotations

import importlib
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from mlform.engine.diagnostics import Diagnostics
from mlform.providers.vertex.schema import DEFAULT_IMAGE, DEFAULT_TIMEOUT_S

LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$")
Progress = Callable[..., None]


class VertexError(Exception):
    def __init__(self, summary: str, detail: str, path: tuple[str, ...] | None = None, code: str = "") -> None:
        super().__init__(summary)
        self.summary, self.detail, self.path, self.code = summary, detail, path, code

    def add_to(self, d: Diagnostics) -> None:
        d.error(self.summary, self.detail, path=self.path)


def label(value: str) -> str:
    """``value`` as a label value (lowercase letters, digits, ``_`` and ``-``, at most 63)."""
    return re.sub(r"[^a-z0-9_-]+", "_", value.lower())[:63]


def explain(e: Exception, what: str, project: str, location: str) -> VertexError:
    """A Vertex AI API error, said for people (the summary names the call that failed)."""
    from google.api_core import exceptions as gx

    msg = getattr(e, "message", None) or str(e)
    if isinstance(e, gx.PermissionDenied):
        perm = re.search(r"[Pp]ermission '?([a-zA-Z.]+)'? denied", msg)
        which = perm.group(1) if perm else "the Vertex AI permission the call needs"
        return VertexError(f"Permission denied: {what} needs {which}",
                           f"The credentials mlform runs with lack {which} on project {project}. Grant them a "
                           "role that has it (roles/aiplatform.user has every permission mlform uses), or run "
                           f"with Application Default Credentials that do. Vertex AI said: {msg}", code="permission")
    if isinstance(e, gx.ResourceExhausted):
        metric = re.search(r"(aiplatform\.googleapis\.com/[a-z_]+)", msg)
        return VertexError(f"Quota exceeded: {what}" + (f" needs more {metric.group(1)}" if metric else ""),
                           f"Project {project} has no quota left in {location} for this deployment. Request more "
                           "quota (IAM & Admin > Quotas), or lower min_replicas or pick a smaller machine_type. "
                           f"Vertex AI said: {msg}", path=("min_replicas",), code="quota")
    if isinstance(e, gx.InvalidArgument) and "achine type" in msg:
        mt = re.search(r'achine type "?([\w-]+)"?', msg)
        which = f"Machine type {mt.group(1)}" if mt else "The machine type"
        return VertexError(f"{which} is not available in {location}",
                           f"Vertex AI refused the deployment: {msg} Pick a machine type offered in {location} "
                           "(mlform providers hardware vertex lists the priced ones), or another location.",
                           path=("machine_type",), code="machine_type")
    if isinstance(e, gx.Unauthenticated):
        return VertexError(f"Not authenticated: {what}", "Vertex AI refused the credentials. Run `gcloud auth "
                           f"application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS. Vertex AI said: {msg}")
    if isinstance(e, (gx.ServiceUnavailable, gx.RetryError)):
        return VertexError(f"Vertex AI is not reachable: {what}", f"{msg}. Check the network and api_endpoint, "
                           "then run the command again.", code="unavailable")
    return VertexError(f"Vertex AI: {what} failed", msg, code=type(e).__name__)


class Api:
    """One configured project and location."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        # Imported by name: google-cloud-aiplatform ships type information, and mypy following it
        # would make google.cloud a typed package lacking storage (which the gcs backend imports).
        aip = importlib.import_module("google.cloud.aiplatform_v1")
        self.aip = aip
        self.project, self.location = str(cfg["project"]), str(cfg["location"])
        self.bucket_uri = str(cfg["staging_bucket"]).rstrip("/")
        self.timeout = float(cfg.get("timeout_seconds") or DEFAULT_TIMEOUT_S)
        self.image = str(cfg.get("serving_image") or DEFAULT_IMAGE)
        self.api_endpoint = str(cfg.get("api_endpoint") or f"{self.location}-aiplatform.googleapis.com")
        self.loopback = bool(LOOPBACK.match(self.api_endpoint))
        self.parent = f"projects/{self.project}/locations/{self.location}"
        if self.loopback:
            import grpc
            services = "google.cloud.aiplatform_v1.services"
            EndpointServiceGrpcTransport = importlib.import_module(
                f"{services}.endpoint_service.transports.grpc").EndpointServiceGrpcTransport
            ModelServiceGrpcTransport = importlib.import_module(
                f"{services}.model_service.transports.grpc").ModelServiceGrpcTransport

            self._channel = grpc.insecure_channel(self.api_endpoint)
            self.endpoints = aip.EndpointServiceClient(transport=EndpointServiceGrpcTransport(channel=self._channel))
            self.models = aip.ModelServiceClient(transport=ModelServiceGrpcTransport(channel=self._channel))
        else:
            opts = {"api_endpoint": self.api_endpoint}
            self.endpoints = aip.EndpointServiceClient(client_options=opts)
            self.models = aip.ModelServiceClient(client_options=opts)

    def close(self) -> None:
        if self.loopback:
            self._channel.close()

    def call(self, what: str, fn: Callable[..., Any], **kw: Any) -> Any:
        from google.api_core import exceptions as gx

        try:
            return fn(**kw, timeout=60)
        except gx.GoogleAPICallError as e:
            raise explain(e, what, self.project, self.location) from None

    def wait(self, op: Any, what: str, progress: Progress) -> Any:
        """Poll ``op`` until done (progress each poll), its result; VertexError on failure or timeout."""
        from google.api_core import exceptions as gx

        start, pause = time.monotonic(), 0.2
        while True:
            try:
                if op.done(retry=None):
                    return op.result(timeout=0)
            except gx.GoogleAPICallError as e:
                raise explain(e, what, self.project, self.location) from None
            waited = time.monotonic() - start
            if waited > self.timeout:
                raise VertexError(f"{what} did not finish within {self.timeout:g}s",
                                  f"Operation {op.operation.name} is still running on Vertex AI. Raise the "
                                  "provider's timeout_seconds, or run the apply again once it has finished "
                                  "(mlform reads what it left).", code="timeout")
            progress(f"{what}: waiting for Vertex AI ({waited:.0f}s)", fraction=min(waited / self.timeout, 0.99))
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)

    # --- storage -------------------------------------------------------------------------
    def artifact_uri(self, digest: str) -> str:
        """Where an artifact of ``digest`` lives: ``{staging_bucket}/mlform/artifacts/{sha256 hex}``."""
        return f"{self.bucket_uri}/mlform/artifacts/{(digest or '').split(':')[-1] or 'unknown'}"

    def upload_artifact(self, path: str, digest: str, progress: Progress) -> str:
        """Upload ``path`` under ``{staging_bucket}/mlform/artifacts/{sha256}/``, unless it is there; the folder URI."""
        from google.api_core import exceptions as gx
        from google.cloud import storage  # type: ignore[attr-defined, unused-ignore]

        hexd = (digest or "").split(":")[-1] or "unknown"
        bucket_name, _, folder = self.artifact_uri(digest).removeprefix("gs://").partition("/")
        if self.loopback or os.environ.get("STORAGE_EMULATOR_HOST"):
            from google.auth.credentials import AnonymousCredentials
            anon = AnonymousCredentials()  # type: ignore[no-untyped-call, unused-ignore]
            client = storage.Client(project=self.project, credentials=anon)
        else:
            client = storage.Client(project=self.project)
        blob = client.bucket(bucket_name).blob(f"{folder}/{Path(path).name}")
        try:
            if blob.exists():
                progress(f"artifact {hexd[:12]} is already in {self.bucket_uri}")
            else:
                progress(f"uploading {Path(path).name} to gs://{bucket_name}/{folder}/")
                blob.upload_from_filename(path)
        except gx.GoogleAPICallError as e:
            raise VertexError(f"Could not upload the model artifact to {self.bucket_uri}",
                              f"{getattr(e, 'message', e)}. Check that the bucket exists and that the credentials "
                              "may write to it (storage.objects.create).", code="storage") from None
        return f"gs://{bucket_name}/{folder}"

    # --- models --------------------------------------------------------------------------
    def upload_model(self, model_address: str, address: str, digest: str, served: str, vid: str,
                     artifact_uri: str, file: str, fmt: str, progress: Progress) -> str:
        """A new version of the registry model of ``model_address`` (created the first time); ``name@version``."""
        aip = self.aip
        labels = {"mlform-model": label(model_address), "mlform-address": label(address),
                  "mlform-digest": label(digest.split(":")[-1][:32])}
        found = self.call("ListModels", self.models.list_models, request=aip.ListModelsRequest(
            parent=self.parent, filter=f"labels.mlform-model={labels['mlform-model']}"))
        parent_model = next((m.name for m in found.models), "")
        env = [aip.EnvVar(name=k, value=v) for k, v in (("MLFORM_MODEL_NAME", served), ("MLFORM_VERSION", vid),
                                                        ("MLFORM_MODEL_FILE", file), ("MLFORM_MODEL_FORMAT", fmt))]
        model = aip.Model(display_name=model_address, artifact_uri=artifact_uri, labels=labels,
                          version_description=f"mlform {address}, {digest}",
                          container_spec=aip.ModelContainerSpec(image_uri=self.image, env=env, invoke_route_prefix="/*",
                                                                health_route="/v2/health/ready",
                                                                ports=[aip.Port(container_port=8080)]))
        req = aip.UploadModelRequest(parent=self.parent, model=model, parent_model=parent_model,
                                     model_id="" if parent_model else
                                     label(f"mlform-{model_address}").replace("_", "-"))
        op = self.call("UploadModel", self.models.upload_model, request=req)
        res = self.wait(op, "UploadModel", progress)
        return f"{res.model}@{res.model_version_id}"

    # --- endpoints -----------------------------------------------------------------------
    def get_endpoint(self, name: str) -> Any:
        """The endpoint, or ``None`` when it does not exist."""
        from google.api_core import exceptions as gx

        try:
            return self.endpoints.get_endpoint(name=name, timeout=60)
        except gx.NotFound:
            return None
        except gx.GoogleAPICallError as e:
            raise explain(e, "GetEndpoint", self.project, self.location) from None

    def find_endpoints(self, labels: dict[str, str]) -> list[Any]:
        flt = " AND ".join(f"labels.{k}={v}" for k, v in labels.items())
        return list(self.call("ListEndpoints", self.endpoints.list_endpoints,
                              request=self.aip.ListEndpointsRequest(parent=self.parent, filter=flt)).endpoints)

    def create_endpoint(self, display: str, labels: dict[str, str], progress: Progress) -> Any:
        ep = self.aip.Endpoint(display_name=display, labels=labels, dedicated_endpoint_enabled=True)
        op = self.call("CreateEndpoint", self.endpoints.create_endpoint, parent=self.parent, endpoint=ep)
        return self.wait(op, "CreateEndpoint", progress)

    def deploy(self, endpoint: str, model_ref: str, vid: str, res: dict[str, Any], split: dict[str, int],
               progress: Progress) -> Any:
        aip = self.aip
        spec = aip.MachineSpec(machine_type=res["machine_type"])
        if res.get("accelerator_type"):
            spec.accelerator_type = res["accelerator_type"]
            spec.accelerator_count = int(res["accelerator_count"])
        dm = aip.DeployedModel(model=model_ref, display_name=vid, dedicated_resources=aip.DedicatedResources(
            machine_spec=spec, min_replica_count=int(res["min_replicas"]), max_replica_count=int(res["max_replicas"])))
        op = self.call("DeployModel", self.endpoints.deploy_model, endpoint=endpoint, deployed_model=dm,
                       traffic_split=split)
        return self.wait(op, f"DeployModel {vid}", progress).deployed_model

    def undeploy(self, endpoint: str, dm_id: str, split: dict[str, int], progress: Progress) -> None:
        op = self.call("UndeployModel", self.endpoints.undeploy_model, endpoint=endpoint, deployed_model_id=dm_id,
                       traffic_split=split)
        self.wait(op, f"UndeployModel {dm_id}", progress)

    def delete_endpoint(self, name: str, progress: Progress) -> None:
        op = self.call("DeleteEndpoint", self.endpoints.delete_endpoint, name=name)
        self.wait(op, "DeleteEndpoint", progress)

    def set_split(self, name: str, split: dict[str, int], operation: str) -> Any:
        """UpdateEndpoint's traffic split with the endpoint's etag, retried once on a conflict; then a
        diagnostic naming who changed the endpoint (another mlform apply, or someone outside mlform)."""
        from google.api_core import exceptions as gx
        from google.protobuf import field_mask_pb2

        for attempt in (1, 2):
            ep = self.get_endpoint(name)
            if ep is None:
                raise VertexError(f"Endpoint {name} no longer exists", "It was deleted outside mlform. Run "
                                  "`mlform apply` to create it again.", code="gone")
            ep.traffic_split.clear()
            ep.traffic_split.update(split)
            ep.labels["mlform-operation"] = label(operation)
            try:
                return self.endpoints.update_endpoint(endpoint=ep, timeout=60, update_mask=field_mask_pb2.FieldMask(
                    paths=["traffic_split", "labels"]))
            except gx.Aborted as e:
                if attempt == 2:
                    now = self.get_endpoint(name)
                    other = (now.labels.get("mlform-operation", "") if now is not None else "")
                    who = (f"another mlform apply (operation {other}, recorded in the endpoint's "
                           "mlform-operation label)" if other and other != label(operation) else
                           "someone outside mlform (the console, gcloud or another tool; Cloud Audit Logs name "
                           "the principal of each aiplatform.endpoints.update)")
                    raise VertexError(f"Endpoint {name} was changed by {who.split(' (')[0]} during the rollout",
                                      f"Its etag changed twice while mlform moved traffic: it was changed by "
                                      f"{who}. Stop the other change, then run `mlform apply` again. Vertex AI said: "
                                      f"{getattr(e, 'message', e)}", code="etag")
            except gx.GoogleAPICallError as e:
                raise explain(e, "UpdateEndpoint", self.project, self.location) from None
        raise AssertionError("unreachable")

    # --- predictions ---------------------------------------------------------------------
    def invoke_url(self, ep: Any, dm_id: str | None = None) -> str:
        """The dedicated endpoint's invoke base: by traffic split, or one deployed model's."""
        dns = ep.dedicated_endpoint_dns or self.api_endpoint
        scheme = "http" if LOOPBACK.match(dns) else "https"
        path = f"/v1/{ep.name}" + (f"/deployedModels/{dm_id}" if dm_id else "") + "/invoke"
        return f"{scheme}://{dns}{path}"

    def auth_headers(self) -> dict[str, str]:
        """What a prediction request carries: an ADC bearer token (none on a loopback API)."""
        if self.loopback:
            return {}
        import google.auth
        import google.auth.transport.requests

        creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        creds.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call, unused-ignore]
        return {"Authorization": f"Bearer {creds.token}"}


__all__ = ["Api", "VertexError", "explain", "label"]
