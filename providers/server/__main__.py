"""``python -m mlform.providers.server --config FILE``: run one model server.

Startup order, each step failing with a one-line ``error:`` message on stderr
(the log file, under the process manager) and a distinct exit code:

1. read the config (exit 2),
2. load and warm up every version (exit 3),
3. bind the listening socket on host:port, port 0 meaning any free port (exit 4),
4. write ``{"pid", "port"}`` to the status file (``port_file``), then serve.

On a failure after the config was read, the status file says
``{"pid", "error", "exit_code"}`` so the process manager can report the
reason without parsing the log.

Binding before reporting means the port is never raced for: the process
manager learns the port the kernel actually gave.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any, Coroutine

from mlform.providers.server.runners import RunnerLoadError
from mlform.providers.server.config import ConfigError, ServerConfig

log = logging.getLogger("mlform.server")
EXIT_CONFIG, EXIT_MODEL, EXIT_BIND = 2, 3, 4


def _write_status(path: str | None, **fields: object) -> None:
    if path:
        tmp = f"{path}.tmp"
        Path(tmp).write_text(json.dumps({"pid": os.getpid(), **fields}))
        os.replace(tmp, path)


def _fail(message: str, code: int, status_file: str | None) -> int:
    log.error("error: %s", message)
    _write_status(status_file, error=message, exit_code=code)
    return code


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port); raises ``OSError``."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections
    # only when the listening socket says it is TCP, and without it Nagle's
    # algorithm holds small responses for ~40 ms.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def resolve_impl(choice: str, module: str, fallback: str) -> str:
    """``choice``, or for "auto" ``module`` when it is installed, else ``fallback``."""
    if choice != "auto":
        return choice
    try:
        __import__(module)
        return module
    except ImportError:
        return fallback


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT or ``POST /mlform/shutdown``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mlform.providers.server")
    parser.add_argument("--config", required=True, help="server config file (JSON)")
    # Set by the supervisor (providers/local/supervisor.py): its own status file is the config's
    # port_file, and a restarted server binds the ports the first run got.
    parser.add_argument("--port-file", help="write the status here instead of the config's port_file")
    parser.add_argument("--port", type=int, help="listen on this port instead of the config's")
    parser.add_argument("--grpc-port", type=int, help="serve gRPC on this port instead of the config's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = ServerConfig.load(args.config)
    except ConfigError as e:
        return _fail(str(e), EXIT_CONFIG, args.port_file)
    for key in ("port_file", "port", "grpc_port"):
        if getattr(args, key) is not None:
            setattr(config, key, getattr(args, key))

    from mlform.providers.server.app import ServerState, create_app, prewarm
    from mlform.providers.server.router import Router, RouterError, load_version

    router = Router()
    for spec in config.versions:
        log.info("loading version %s from %s (%s)", spec.id, spec.path, spec.format)
        try:
            version = load_version(spec, config.gpus, config.stats_capacity)
        except RunnerLoadError as e:
            return _fail(f"version {spec.id}: {e}", EXIT_MODEL, config.port_file)
        router.versions[spec.id] = version
        log.info("version %s loaded in %.3fs on %s (%s)", spec.id, version.load_seconds,
                 version.runner.device, version.digest)
    if router.versions:
        try:
            router.set_weights(config.weights or {config.versions[0].id: 100.0})
        except RouterError as e:
            return _fail(str(e), EXIT_CONFIG, config.port_file)

    try:
        sock = bind_listener(config.host, config.port)
    except OSError as e:
        return _fail(f"cannot listen on {config.host}:{config.port}: {e.strerror or e}"
                     + (" (is another server using this port?)" if config.port else ""),
                     EXIT_BIND, config.port_file)
    port = sock.getsockname()[1]
    if config.grpc_port is not None:
        from mlform.engine.diagnostics import DiagnosticsError
        from mlform.engine.extras import require_extra
        try:
            require_extra("grpc", "Serving the V2 gRPC protocol (grpc_port)")
        except DiagnosticsError as e:
            detail = " ".join(d.detail for d in e.diagnostics)
            return _fail(f"{e}: {detail}", EXIT_CONFIG, config.port_file)
    state = ServerState(config, router)
    state.port = port
    app = create_app(state)

    import uvicorn

    uv_config = uvicorn.Config(
        app, host=config.host, port=port, log_config=None, access_log=False,
        http=resolve_impl(config.http, "httptools", "h11"),
        loop=resolve_impl(config.loop, "uvloop", "asyncio"),
        # Nothing fronts this server: proxy-header parsing would be per-request waste.
        proxy_headers=False, lifespan="off", server_header=False,
        timeout_graceful_shutdown=10,
    )
    if uv_config.http == "h11" and config.http == "auto":
        log.warning("httptools is not installed: serving HTTP with h11, several times slower "
                    "(docs/performance.md); pip install httptools")
    server = uvicorn.Server(uv_config)
    state.uvicorn = server
    uv_config.load()  # uvicorn's protocol modules, imported now rather than after the freeze
    prewarm()
    if config.grpc_port is None:
        _write_status(config.port_file, port=port)
        _serving(config, port, uv_config)
        # Everything loaded so far lives for the whole process: keep the collector off it.
        gc.collect()
        gc.freeze()
        server.run(sockets=[sock])
        log.info("stopped")
        return 0
    from mlform.providers.server.grpc_server import start_grpc

    async def serve_both() -> int:
        try:
            grpc_server, grpc_port = await start_grpc(state, config.host, int(config.grpc_port or 0))
        except OSError as e:
            return _fail(f"cannot serve gRPC on {config.host}:{config.grpc_port}: {e}"
                         + (" (is another server using this port?)" if config.grpc_port else ""),
                         EXIT_BIND, config.port_file)
        state.grpc_port = grpc_port
        _write_status(config.port_file, port=port, grpc_port=grpc_port)
        _serving(config, port, uv_config)
        log.info("serving the V2 gRPC service on %s:%d", config.host, grpc_port)
        gc.collect()
        gc.freeze()
        try:
            await server.serve(sockets=[sock])
        finally:
            await grpc_server.stop(5)
        return 0

    code = run_loop(serve_both(), uv_config)
    log.info("stopped")
    return code


def _serving(config: ServerConfig, port: int, uv_config: Any) -> None:
    log.info("serving %s on http://%s:%d (pid %d, http=%s, loop=%s)", config.name, config.host,
             port, os.getpid(), uv_config.http, uv_config.loop)


def run_loop(main: Coroutine[Any, Any, int], uv_config: Any) -> int:
    """Run ``main`` on the event loop uvicorn would have made (uvloop or asyncio), so the
    gRPC server and uvicorn share one loop."""
    factory = getattr(uv_config, "get_loop_factory", None)  # uvicorn >= 0.36
    if factory is None:
        uv_config.setup_event_loop()
        return asyncio.run(main)
    make = factory()
    loop = make() if make is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
