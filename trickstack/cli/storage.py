"""``trickstack storage``: commands about where studies live (the gRPC proxy in front of a database)."""

from __future__ import annotations

from typing import Optional

import typer

from trickstack.core.errors import UserError

storage_app = typer.Typer(no_args_is_help=True, help="Where studies live: the storage proxy for large fleets.")


@storage_app.command("proxy")
def proxy(
    storage: Optional[str] = typer.Option(None, help="the database the proxy serves: postgresql://... (or sqlite:///FILE)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: every interface; the proxy has no "
                                               "authentication: keep it on a private network)"),
    port: int = typer.Option(13000, min=0, max=65535, help="port to listen on (0: a free one, printed)"),
    threads: int = typer.Option(10, min=1, help="requests served at once, and so database connections held"),
) -> None:
    """Serve a study storage to workers through Optuna's gRPC proxy (workers: --storage grpc://HOST:PORT) until stopped."""
    from trickstack.ablations.proxy import GRPC, require_grpc, serve
    from trickstack.ablations.storage import open_storage, shown_url

    if not storage or storage.startswith(GRPC):
        raise UserError("--storage: give the database the proxy serves (postgresql://... or sqlite:///FILE), not a proxy")
    require_grpc(f"{GRPC}{host}:{port}")  # before the database is opened (or a SQLite file made)
    serve(open_storage(storage, pool_size=threads), host, port, threads, shown=shown_url(storage))
