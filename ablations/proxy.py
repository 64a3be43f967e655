"""Optuna's gRPC storage proxy: many workers, one process holding the database connections.

A fleet of N workers on PostgreSQL holds about N connections (`trickstack.ablations.storage.POOL_SIZE`
each); PostgreSQL's ``max_connections`` (100 by default) bounds N. ``trickstack storage proxy --storage
postgresql://...`` (`serve`) puts Optuna's proxy in front of the database: it keeps ``threads``
connections, whatever the number of workers, and workers give ``--storage grpc://HOST:PORT``
(`open_proxy`: Optuna's `GrpcStorageProxy`, which caches finished trials).

What differs through the proxy: Optuna's proxy has no heartbeat, so a trial whose worker vanished on
another machine (or in another PID namespace) is not failed by a stale heartbeat; it is found by the
same-machine pid check, or when a worker with ``--storage postgresql://...`` (which has the heartbeat)
runs beside the fleet; a proxy that stops answering is not retried (`trickstack.ablations.resilient`
retries a database server only). Needs the ``grpc`` extra (``grpcio``, ``protobuf``).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable
from urllib.parse import urlsplit

import optuna
from optuna.storages import BaseStorage

from trickstack.core.errors import UserError

GRPC = "grpc://"
CONNECT_SECONDS = 10.0  # how long a worker waits for the proxy to answer before it says it cannot reach it
THREADS = 10  # requests the proxy serves at once (Optuna's default), and so its database connections
EXTRA = "pip install 'trickstack[grpc]'"


def require_grpc(url: str) -> None:
    """Import grpc and protobuf, or say which extra installs them (one message, whichever is missing)."""
    for module in ("grpc", "google.protobuf"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise UserError(f"storage {url}: the gRPC storage proxy needs the packages grpcio and protobuf: "
                            f"{EXTRA}") from None


def address(url: str) -> tuple[str, int]:
    """(host, port) of ``grpc://HOST:PORT``; anything else is a `UserError`.

    >>> address("grpc://127.0.0.1:13000")
    ('127.0.0.1', 13000)
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None or parts.path not in ("", "/") or parts.username or parts.query:
        raise UserError(f"storage {url}: give the proxy's address as grpc://HOST:PORT, e.g. grpc://127.0.0.1:13000")
    return host, port


def open_proxy(url: str) -> BaseStorage:
    """A client of the proxy at ``url`` (``grpc://HOST:PORT``), checked to answer within `CONNECT_SECONDS`."""
    host, port = address(url)
    require_grpc(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.GrpcStorageProxy(host=host, port=port)
    try:
        storage.wait_server_ready(timeout=CONNECT_SECONDS)
    except ConnectionError:
        storage.close()
        raise UserError(f"storage {url}: no proxy answers there after {CONNECT_SECONDS:g} s (start one with "
                        "`trickstack storage proxy --storage postgresql://... --host HOST --port PORT`)") from None
    return storage


def serve(storage: BaseStorage, host: str, port: int, threads: int = THREADS, shown: str = "",
          ready: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> None:
    """Serve ``storage`` (opened with ``threads`` connections) on ``host:port`` until stopped; port 0 picks a
    free one. ``ready`` gets the line naming the address, once it listens. Call `require_grpc` first."""
    import grpc  # the extra (checked by the caller: `require_grpc`)
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.servicer import OptunaStorageProxyService  # run_grpc_proxy_server hides the port

    server = grpc.server(ThreadPoolExecutor(max_workers=threads))
    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(storage), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise UserError(f"storage proxy: cannot listen on {host}:{port} (in use, or not an address of this machine)")
    server.start()
    ready(f"storage proxy: serving {shown or 'the storage'} on {GRPC}{host}:{bound} ({threads} threads)")
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=1.0)
