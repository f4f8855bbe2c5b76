"""Serving a mock bank over real HTTP: for ``payout-engine mock-provider`` and e2e tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette

from domain.ports import ProviderKind
from providers.mock.bank import MockBank
from providers.mock.clock import AcceleratedClock
from providers.mock.config import MockBankConfig


def create_app(
    kind: ProviderKind | str, config: MockBankConfig | None = None, clock_speed: float = 0.0
) -> Starlette:
    """A mock bank's ASGI app; the bank itself is ``app.state.bank``.

    Its clock starts at the real time now and runs ``clock_speed`` simulated
    seconds per real second (see ``AcceleratedClock``): 0 stands still until
    ``POST /_admin/advance``, 3600 makes each real second a simulated hour, so a
    demo's payouts complete (ACH: 24 s) and fail or return by themselves.
    """
    return MockBank(ProviderKind(kind), config, AcceleratedClock(clock_speed)).app


def serve(
    kind: ProviderKind | str,
    host: str = "127.0.0.1",
    port: int = 9101,
    config: MockBankConfig | None = None,
    log_level: str = "info",
    clock_speed: float = 0.0,
) -> None:
    """Run one mock bank with uvicorn until interrupted (blocking).

    ``clock_speed`` as in ``create_app``; ``POST /_admin/advance {"seconds": n}``
    moves the clock on top of it, and ``POST /_admin/discrepancies`` injects
    reconciliation breaks (``providers.mock.admin``).
    """
    app = create_app(kind, config, clock_speed)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


@asynccontextmanager
async def serving(
    app: Starlette, host: str = "127.0.0.1", port: int = 0, **config: Any
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn inside the running loop; yields the base URL.

    Port 0 picks a free port; ``config`` goes to ``uvicorn.Config``. The server stops
    when the block exits.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    # A held ("timed out") answer would otherwise delay shutdown by hang_seconds.
    settings = uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=1,
        **config,
    )
    server = uvicorn.Server(settings)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the mock provider server did not start")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
