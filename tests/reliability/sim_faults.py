"""Faults the simulation injects underneath the engine, at its await points.

The engine talks to the outside world only through awaits on the database (a statement,
a commit) and on the providers (a request, its answer). Between two awaits nothing
outside the process changes, so stopping the engine *at* an await point covers every
place a real process can die. ``Injector`` counts those points per kind while armed and,
at the chosen one:

* **kills the process**: ``ProcessKilled`` (a ``BaseException``, so the engine's
  ``except Exception`` handlers do not swallow it) is raised there, and from then on every
  statement, commit and provider request of that engine raises it too: a dead process
  writes nothing more, whatever its ``finally`` blocks try. Open transactions roll back,
  as the database does when a killed process's connection closes. The simulation then
  builds a new engine on the same database and banks (a restart);
* **drops the database connection** mid-transaction: on PostgreSQL the server
  terminates the backend for real (``pg_terminate_backend``); SQLite has no server, so
  the statement fails as a closed connection does (the pool then discards it);
* **loses a provider's answer**: the bank did the work, the reply never arrives
  (``httpx.ReadError``), as when a connection is reset after the request was processed.

Counting per kind (the Nth statement, the Nth provider request) keeps a seed's crash at
the same place on replay: statements are issued one after another, and the simulation
sends provider requests one at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine


class ProcessKilled(BaseException):
    """The simulated engine process died at this await point."""


SQL = "sql"
PROVIDER = "provider"


@dataclass
class Injector:
    """Where the next fault strikes: the ``at``-th await point of ``kind`` after arming."""

    kind: str | None = None
    at: int = 0
    fault: str = ""  # "crash" | "drop"
    seen: dict[str, int] = field(default_factory=dict)
    dead: bool = False
    hit: str | None = None  # the await point the fault struck
    lose_answers: int = 0  # provider answers to lose after the bank processed the request
    # Something the outside world does just before the ``hook_at``-th order sent to a
    # provider from now on (an operator cancelling the run that sends it): once, then
    # cleared. Only orders (POSTs) count: quotes may come from a cache.
    hook: Callable[[], Awaitable[None]] | None = None
    hook_at: int = 0

    def arm(self, fault: str, kind: str, at: int) -> None:
        self.fault, self.kind, self.at = fault, kind, at
        self.seen = {SQL: 0, PROVIDER: 0}
        self.hit = None

    def disarm(self) -> None:
        self.kind = None

    async def before_request(self, method: str) -> None:
        if self.hook is None or method != "POST":
            return
        self.hook_at -= 1
        if self.hook_at <= 0:
            hook, self.hook = self.hook, None
            await hook()

    def point(self, kind: str, where: str) -> bool:
        """Called at each await point; True when a connection drop is due here."""
        if self.dead:
            raise ProcessKilled(f"dead process reached {where}")
        if self.kind is None:
            return False
        self.seen[kind] = self.seen.get(kind, 0) + 1
        if kind != self.kind or self.seen[kind] != self.at:
            return False
        self.hit = where
        self.disarm()
        if self.fault == "crash":
            self.dead = True
            raise ProcessKilled(f"killed at {where}")
        return True


def _what(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = next(
        (words[i + 1] for i, w in enumerate(words[:-1]) if w.upper() in ("INTO", "FROM", "UPDATE")),
        "",
    )
    return f"{verb} {table.strip('()')}".strip()


def instrument(engine: AsyncEngine, injector: Injector, pg_admin_url: str | None) -> None:
    """Route every statement and commit of ``engine`` through ``injector``.

    ``pg_admin_url`` (libpq form) is how a PostgreSQL backend is terminated; None on SQLite.
    """

    def drop(connection: Any, statement: str, parameters: Any) -> None:
        if pg_admin_url is not None:
            pid = connection.connection.driver_connection.info.backend_pid
            with psycopg.connect(pg_admin_url, autocommit=True) as admin:
                # wait (up to 5 s) until the backend is gone, so the next step surely fails
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            return
        raise OperationalError(
            statement,
            parameters,
            sqlite3.ProgrammingError("Cannot operate on a closed database."),
            connection_invalidated=True,
        )

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def before(connection: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if injector.point(SQL, _what(statement)):
            drop(connection, statement, parameters)

    @event.listens_for(engine.sync_engine, "commit")
    def on_commit(connection: Any) -> None:
        if injector.point(SQL, "COMMIT"):
            drop(connection, "COMMIT", None)


class FaultyTransport(httpx.AsyncBaseTransport):
    """Wraps a provider transport: await points before each request and after its answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport, injector: Injector) -> None:
        self._inner = inner
        self._injector = injector

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        where = f"{request.method} {request.url.host}{request.url.path}"
        self._injector.point(PROVIDER, f"before {where}")
        await self._injector.before_request(request.method)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        # after the bank acted: a death here loses the answer along with the process
        self._injector.point(PROVIDER, f"after {where}")
        if self._injector.lose_answers and request.method == "POST":
            self._injector.lose_answers -= 1
            raise httpx.ReadError("connection reset after the request was sent", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
