"""Signed webhooks: which events exist, who receives them, how they are signed and retried.

An event is signed over ``f"{t}.{body}"`` with HMAC-SHA256 and the endpoint's secret
(Stripe's scheme): ``Payout-Signature: t=<unix seconds>,v1=<hex digest>``. A failed
delivery is retried 30 s, 1 min, 2 min, ... after each attempt (capped at 6 h) until three
days after its first attempt; an endpoint with no success for three days is disabled.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from domain.errors import ErrorCode, Problem, quoted
from domain.lifecycle import PayoutStatus
from domain.run_workflow import RunStatus

PAYOUT_TYPES = tuple(f"payout.{s.value}" for s in PayoutStatus)
RUN_TYPES = tuple(f"run.{s.value}" for s in RunStatus)
BREAK_TYPES = ("reconciliation_break.opened", "reconciliation_break.resolved")
EVENT_TYPES = PAYOUT_TYPES + RUN_TYPES + BREAK_TYPES
WILDCARDS = ("*", "payout.*", "run.*", "reconciliation_break.*")

MAX_EVENTS = 50
MAX_URL_LENGTH = 2000
RETRY_FOR = timedelta(days=3)  # a delivery is given up this long after its first attempt
DISABLE_AFTER = timedelta(days=3)  # an endpoint with no success for this long is disabled
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
SIGNATURE_HEADER = "Payout-Signature"
EVENT_ID_HEADER = "Payout-Event-Id"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Payout-Signature`` header value for ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), header)


def next_wait(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1-based)."""
    doubling: timedelta = FIRST_RETRY * 2 ** min(attempts - 1, 20)
    return min(doubling, LONGEST_WAIT)


def subscribed(patterns: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint listening to ``patterns`` (empty: everything) gets the type."""
    if not patterns:
        return True
    family = event_type.split(".", 1)[0] + ".*"
    return any(p in ("*", family, event_type) for p in patterns)


def event_problems(events: Sequence[str]) -> list[Problem]:
    if len(events) > MAX_EVENTS:
        return [Problem("events", ErrorCode.INVALID_INPUT, f"at most {MAX_EVENTS} event types")]
    return [
        Problem(f"events.{n}", ErrorCode.INVALID_INPUT, f"no event type {quoted(e)}")
        for n, e in enumerate(events)
        if e not in EVENT_TYPES and e not in WILDCARDS
    ]


def url_problems(url: str, allow_private: bool) -> list[Problem]:
    """What is wrong with ``url`` as a webhook target, before its host is resolved."""
    bad = Problem("url", ErrorCode.INVALID_INPUT, f"{quoted(url)} is not an http(s) URL")
    if len(url) > MAX_URL_LENGTH:
        return [Problem("url", ErrorCode.INVALID_INPUT, f"at most {MAX_URL_LENGTH} characters")]
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        return [bad]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        return [bad]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [bad]
    if parts.username is not None or parts.password is not None:
        return [Problem("url", ErrorCode.INVALID_INPUT, "credentials in the URL are refused")]
    if parts.scheme == "http" and not allow_private:
        return [Problem("url", ErrorCode.INVALID_INPUT, "the URL must be https")]
    return []


def refused_address(address: str, allow_private: bool) -> str | None:
    """Why an outgoing request may not go to ``address`` (None: it may)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_private else "a loopback address"
    if ip.is_private and not (ip.is_link_local or ip.is_reserved or ip.is_unspecified):
        return None if allow_private else "a private address"
    for kind, flag in (
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a reserved address", ip.is_reserved),
        ("an unspecified address", ip.is_unspecified),
        ("a non-global address", not ip.is_global),
    ):
        if flag:
            return kind
    return None


def first_refusal(addresses: Iterable[str], allow_private: bool) -> str | None:
    """The first reason any of a host's addresses is refused: one bad address refuses all
    (the client may connect to any of them)."""
    for address in addresses:
        reason = refused_address(address, allow_private)
        if reason is not None:
            return f"{address} is {reason}"
    return None
