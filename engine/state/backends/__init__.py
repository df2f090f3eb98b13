"""Concrete state backends: a local file, S3 (+DynamoDB), GCS.

Each is a :class:`~mlform.engine.state.backend.ClientBackend` around a small
storage client. The S3 and GCS modules import their cloud SDKs lazily so the
local backend works without them. :func:`backend_from_config` (re-exported
from ``..factory``) picks one from a ``backend`` block.
"""

from ..factory import backend_from_config, migrate_state

__all__ = ["backend_from_config", "migrate_state"]
