"""Concrete state backends: a local file, S3 (+DynamoDB), GCS.

Each is a :class:`~mlform.engine.state.backend.ClientBackend` around a small
storage client. The S3 and GCS modules import their cloud SDKs lazily so the
local backend works without them.
"""
