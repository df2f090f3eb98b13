"""The fake's records, faults and rules that are not a service call (a FAKE of Vertex AI: see the
package docstring for why)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as aip

# Machine types the fake offers in every location; a test asks for another to see the error.
MACHINE_TYPES = {"n1-standard-2", "n1-standard-4", "n1-standard-8", "n1-highmem-2", "n1-highmem-4",
                 "e2-standard-2", "e2-standard-4", "g2-standard-4", "a2-highgpu-1g"}


class Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Fault:
    """One injected fault, used by the next ``count`` calls of ``method`` (gRPC method name).

    ``kind``: ``error`` (the call itself answers ``code``), ``fail`` (its operation ends with
    ``code``), ``slow`` (its operation takes ``seconds`` longer), ``etag`` (someone else updates the
    endpoint just before an UpdateEndpoint).
    """

    method: str
    kind: str
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    message: str = ""
    seconds: float = 0.0
    count: int = 1
    by: str = ""  # etag: the operation label another mlform apply would leave; "": a change outside mlform


@dataclass
class _Op:
    name: str
    polls: int = 0
    done: bool = False
    response: Any = None  # a protobuf message
    error: tuple[grpc.StatusCode, str] | None = None


@dataclass
class _Registry:
    endpoints: dict[str, aip.Endpoint] = field(default_factory=dict)
    models: dict[str, list[aip.Model]] = field(default_factory=dict)  # model name -> versions


def _matches(labels: Any, flt: str) -> bool:
    """The part of AIP-160 filters this fake understands: ``labels.KEY=VALUE`` terms joined by AND."""
    for term in (t.strip() for t in flt.split(" AND ") if t.strip()):
        key, _, value = term.partition("=")
        key = key.strip().removeprefix("labels.")
        if labels.get(key) != value.strip().strip('"'):
            return False
    return True


def pick(split: dict[str, int]) -> str:
    """A deployed model id drawn by the traffic split, as the endpoint's router does."""
    ids = [k for k, v in split.items() if v > 0]
    return random.choices(ids, weights=[split[k] for k in ids])[0]
