"""Every HTTP request gets a request id (the caller's ``X-Request-Id``, or a new one),
echoed in the response and carried by every line logged while it is served; with the
access log on, one line per request says what it was, who sent it and how it ended."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import log_context

HEADER = "X-Request-Id"
# A caller's id is kept when it is a plain token of sensible length; else we make one.
_USABLE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
access_log = logging.getLogger("payout_engine.access")


def request_id(given: str | None) -> str:
    return given if given is not None and _USABLE.fullmatch(given) else uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp, *, access: bool = True) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(HEADER.lower().encode())
        ident = request_id(given.decode("latin-1") if given is not None else None)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = ident
            await send(message)

        with log_context.scope(request_id=ident):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if self.access and scope["type"] == "http":
                    self._log(scope, status, time.perf_counter() - started)

    @staticmethod
    def _log(scope: Scope, status: int, seconds: float) -> None:
        access_log.info(
            "%s %s %s %.1f ms",
            scope["method"],
            scope["path"],
            status or "-",
            seconds * 1000,
            extra={"method": scope["method"], "path": scope["path"], "status": status},
        )
