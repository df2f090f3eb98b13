"""A FAKE of Vertex AI's ``aiplatform_v1`` API, for tests and the examples/vertex walk-through.

It is a fake because no Vertex AI emulator exists (Google ships emulators for
Storage, Pub/Sub, Firestore, Spanner and Bigtable, none for Vertex AI), and
mlform's tests may reach nothing but 127.0.0.1. It is wire-level: the REAL
``google-cloud-aiplatform`` clients talk to it over gRPC on an insecure
127.0.0.1 channel, with the SDK's own protobuf messages, so what the provider
sends is what it would send to ``{location}-aiplatform.googleapis.com``.

What it serves (``services.py``): ModelService (UploadModel, GetModel,
ListModels), EndpointService (CreateEndpoint, GetEndpoint, ListEndpoints,
UpdateEndpoint, DeployModel, UndeployModel, DeleteEndpoint) and the
long-running Operations service. Its operations are never done on the first
poll. It enforces the service's rules: a traffic split sums to 100 and names
deployed models; a model with traffic cannot be undeployed while others
stay unless the request moves its traffic; an endpoint with deployed models
cannot be deleted; UpdateEndpoint with a stale etag is ABORTED; a machine
type it does not list for the location is INVALID_ARGUMENT.

Each deployed model is served for real (``serving.py``): the fake copies the
model's artifact from GCS (gcp-storage-emulator) and runs mlform's V2 server
(``mlform.providers.server``) for it, and its HTTP port answers the
dedicated endpoint's ``invoke`` routes, by traffic split
(``/v1/{endpoint}/invoke/...``) or for one deployed model
(``/v1/{endpoint}/deployedModels/{id}/invoke/...``), as Vertex does for a
model uploaded with ``invoke_route_prefix = "/*"``.

Faults a test can inject (:meth:`FakeVertex.inject`): a failed operation, a
slow operation, an error answered at once (PERMISSION_DENIED, ...), and etag
conflicts (someone else updates the endpoint just before mlform does).
"""

from tests.fakes.vertex.records import Fault
from tests.fakes.vertex.services import FakeVertex

__all__ = ["FakeVertex", "Fault"]
