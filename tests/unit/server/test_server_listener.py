"""The listening socket: accepted connections must get TCP_NODELAY under asyncio."""

from __future__ import annotations

import asyncio
import socket

import pytest

from mlform.providers.server.__main__ import bind_listener


def test_accepted_connections_have_nodelay_under_plain_asyncio():
    # Without IPPROTO_TCP on the listener, asyncio skips TCP_NODELAY and Nagle's
    # algorithm delays every small response by ~40 ms.
    listener = bind_listener("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    assert seen and seen[0] != 0


def test_port_in_use_raises():
    first = bind_listener("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="Address already in use"):
            bind_listener("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
