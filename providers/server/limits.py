"""Reading an infer request's body within bounds: size limit, request compression.

A body over the server's ``max_request_bytes`` is refused with 413 before it is
held in memory: at once when ``Content-Length`` says so, else as soon as the
bytes received pass the limit. A ``Content-Encoding: gzip`` or ``deflate``
body (as tritonclient sends with ``request_compression_algorithm``) is
inflated incrementally, and the inflated size is held to the same limit, so a
small compressed bomb cannot expand without bound.
"""

from __future__ import annotations

import zlib

from starlette.types import Receive

# Inflate in slices of this size, so no single step can allocate past the limit by much.
_INFLATE_STEP = 1 << 20
# What a user changes to raise the limit: the endpoint attribute, which sets the config's key.
_SETTING = "raise the endpoint's max_request_size (max_request_bytes in the server config) to allow more"


class BodyError(Exception):
    """The body is refused; ``status`` is the HTTP status to answer with (400 or 413)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def too_large(size: int, limit: int, what: str = "request body") -> BodyError:
    return BodyError(f"{what} of {size:,} bytes is over this server's limit of {limit:,} "
                     f"bytes: {_SETTING}", 413)


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body from ASGI ``receive``, refusing it once it passes ``limit`` bytes."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise too_large(len(body), limit)
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyError(f"request body is over this server's limit of {limit:,} bytes: "
                            f"{_SETTING}", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The decompressed body of a ``gzip`` or ``deflate`` request, at most ``limit`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise BodyError(f"Content-Encoding {encoding!r} is not supported (gzip, deflate)", 415)
    # 32 + 15: a zlib or gzip header, detected; a raw deflate stream is tried after.
    for wbits in ((47, -15) if encoding == "deflate" else (47,)):
        try:
            return _inflate(body, wbits, limit)
        except zlib.error as e:
            error = e
    raise BodyError(f"request body is not valid {encoding} data: {error}", 400)


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out: list[bytes] = []
    size = 0
    data = body
    while True:
        piece = d.decompress(data, _INFLATE_STEP)
        size += len(piece)
        if size > limit:
            raise BodyError(f"decompressed request body is over this server's limit of "
                            f"{limit:,} bytes: {_SETTING}", 413)
        out.append(piece)
        data = d.unconsumed_tail
        if not data and len(piece) < _INFLATE_STEP:
            break
    tail = d.flush()
    size += len(tail)
    if size > limit:
        raise too_large(size, limit, "decompressed request body")
    if not d.eof:
        raise zlib.error("the compressed stream ends early")
    out.append(tail)
    return b"".join(out)
