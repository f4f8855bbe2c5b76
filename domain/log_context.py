"""What a log line is about: the request, the caller's key, the run or payout.

Held in a context variable, so every line logged while a request (or a run) is being
served carries them without passing them around; ``service.logging_setup`` writes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True, slots=True)
class LogContext:
    request_id: str | None = None
    key_name: str | None = None
    key_id: int | None = None
    run_id: int | None = None
    payout_id: int | None = None

    def fields(self) -> dict[str, object]:
        """The fields that are set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


NONE = LogContext()
_CURRENT: ContextVar[LogContext | None] = ContextVar("log_context", default=None)


def current() -> LogContext:
    return _CURRENT.get() or NONE


def bind(**fields: object) -> None:
    """Add fields for the rest of this task (and the tasks it starts from now on)."""
    _CURRENT.set(replace(current(), **fields))  # type: ignore[arg-type]


@contextmanager
def scope(**fields: object) -> Iterator[LogContext]:
    """Fields for the ``with`` block only."""
    token = _CURRENT.set(replace(current(), **fields))  # type: ignore[arg-type]
    try:
        yield current()
    finally:
        _CURRENT.reset(token)
