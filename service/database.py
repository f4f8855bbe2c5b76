"""What an operator is told when a command cannot open the database: one line naming
the database and the reason, and the command that creates a database that is missing.
(An SQLite file's directory is made when missing; one that cannot be is an OSError.)"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

POSTGRES_PORT = 5432
# libpq's words, e.g. 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  ...'
_SEVERITY = re.compile(r"^(FATAL|ERROR):\s+")


def why_unopenable(database_url: str, error: DBAPIError | OSError) -> str:
    url = make_url(database_url)
    reason = _reason(error)
    if url.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {url.database}: {reason}"
    where = f"{url.host or 'localhost'}:{url.port or POSTGRES_PORT}"
    if reason == f'database "{url.database}" does not exist':
        return f"{reason} on {where}: create it with {_createdb(url)}"
    return f'cannot connect to PostgreSQL at {where} (database "{url.database}"): {reason}'


def _reason(error: DBAPIError | OSError) -> str:
    """The driver's own first line, without libpq's preamble and severity."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).splitlines() or [type(cause).__name__]
    return _SEVERITY.sub("", lines[0].rsplit(" failed: ", 1)[-1].strip())


def _createdb(url: URL) -> str:
    options = [f"-h {url.host}" if url.host else "", f"-p {url.port}" if url.port else ""]
    options.append(f"-U {url.username}" if url.username else "")
    return " ".join(["createdb", *filter(None, options), str(url.database)])
