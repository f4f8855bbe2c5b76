"""Relay connections with opaque keyset cursors and a maximum page size."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from graph.errors import ErrorCode, query_error
from graph.ids import parse_id
from persistence.queries import Page

DEFAULT_PAGE_SIZE = 20
N = TypeVar("N")
R = TypeVar("R")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo


def encode_cursor(ident: int) -> str:
    return base64.urlsafe_b64encode(f"k:{ident}".encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError:  # binascii.Error and the Unicode errors are ValueErrors
        text = ""
    ident = parse_id(text[2:]) if text.startswith("k:") else None
    if ident is None:
        raise query_error(ErrorCode.INVALID_CURSOR, "after is not a cursor from this API")
    return ident


def page_size(first: int | None, maximum: int) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= maximum:
        raise query_error(
            ErrorCode.PAGE_SIZE, f"first must be between 1 and {maximum}", maximum=maximum
        )
    return size


def connection(
    page: Page[R], convert: Callable[[R], N], ident: Callable[[R], int]
) -> Connection[N]:
    rows: Sequence[R] = page.rows
    edges = [Edge(cursor=encode_cursor(ident(row)), node=convert(row)) for row in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
        ),
    )
