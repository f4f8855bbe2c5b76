"""Datetimes read back from SQLite are what SQLAlchemy's own DATETIME parser reads, made
aware in UTC, for every form SQLAlchemy writes (the column reads them faster)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import sqlite

from persistence.tables import UtcDateTime


def test_sqlite_text_reads_as_sqlalchemy_reads_it() -> None:
    dialect = sqlite.dialect()
    ours = UtcDateTime()._cached_result_processor(dialect, None)
    theirs = sqlite.DATETIME().result_processor(dialect, None)
    write = UtcDateTime()._cached_bind_processor(dialect)  # to the text SQLite stores
    assert ours is not None and theirs is not None and write is not None
    for moment in (
        datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    ):
        stored = write(moment)
        assert isinstance(stored, str)
        assert ours(stored) == theirs(stored).replace(tzinfo=UTC) == moment
        assert ours(stored).tzinfo is UTC
    assert ours(None) is None
    assert ours("2026-11-20 09:00:00") == datetime(2026, 11, 20, 9, tzinfo=UTC)
