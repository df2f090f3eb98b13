"""What the local provider declares (``get_schema``): its provider block and the
endpoint attributes it takes beyond the common endpoint schema."""

from __future__ import annotations

from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse

PROVIDER = BlockSpec(attrs={
    "gpus": AttrSpec("any", description='"auto" (a GPU when the runtime has one, the default), "none", '
                                        "or a list of GPU ids such as [0, 1]"),
})

ENDPOINT = BlockSpec(attrs={
    "port": AttrSpec("number", description="recorded with the endpoint; the server listens on a free "
                                           "127.0.0.1 port it picks at start (see url)"),
    "environment": AttrSpec("map(string)", description="environment settings recorded with the endpoint "
                                                       "(a sensitive value stays masked in plans and state)"),
})


def local_schema() -> GetSchemaResponse:
    return GetSchemaResponse(kinds=["endpoint"], provider=PROVIDER, kind_schemas={"endpoint": ENDPOINT})


__all__ = ["local_schema"]
