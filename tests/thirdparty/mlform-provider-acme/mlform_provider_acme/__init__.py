"""mlform-provider-acme: a third-party provider for mlform, kept in mlform's tests.

A test provider: its "cloud" is a JSON file under the project's
``.mlform/acme-cloud/`` and a small V2 gateway (``python -m
mlform_provider_acme.gateway``); see ``provider.py``. It registers itself in
the ``mlform.providers`` entry-point group (its ``pyproject.toml``) and
imports nothing of mlform but the public engine modules a provider uses.
"""

from mlform_provider_acme.provider import AcmeProvider

__all__ = ["AcmeProvider"]
