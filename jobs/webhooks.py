"""The webhook delivery job: fan out new outbox events, then post due deliveries.

Each request goes only to a host whose every address is public (unless
``allow_private_networks``), checked again at every attempt since DNS can change;
redirects are not followed (a 3xx is a failure) and every request has a timeout.
Only a 2xx answer counts as delivered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from domain import webhooks
from domain.ports import Clock
from persistence import metrics
from persistence.webhook_store import Attempt, Claimed, SqlWebhooks

Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    allow_private_networks: bool = False
    timeout: timedelta = timedelta(seconds=10)
    lease: timedelta = timedelta(minutes=5)  # a killed sender's deliveries wait this long
    batch_size: int = 100
    concurrency: int = 16
    max_batches: int = 50  # per job run; the next run goes on
    interval: timedelta = timedelta(seconds=5)


class AddressRefused(Exception):
    pass


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


async def refusal(
    url: str, allow_private: bool, resolver: Resolver = resolve, timeout_s: float = 10.0
) -> str | None:
    """Why a request to ``url`` may not be made now (None: it may)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout_s):
            addresses = await resolver(host, port)
    except TimeoutError:
        return f"{host} did not resolve within {timeout_s:g} s"
    except OSError as exc:
        return f"{host} does not resolve: {exc}"
    if not addresses:
        return f"{host} does not resolve"
    return webhooks.first_refusal(addresses, allow_private)


class WebhookSender:
    def __init__(
        self,
        store: SqlWebhooks,
        clock: Clock,
        worker: str,
        settings: WebhookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = resolve,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self._clock = clock
        self._worker = worker
        self._transport = transport
        self._resolver = resolver
        self._wall = wall

    async def deliver(self) -> dict[str, Any]:
        """One job run: fan out, then send due deliveries batch after batch."""
        counts = {"events_fanned_out": 0, "sent": 0, "delivered": 0, "failed_attempts": 0}
        for _ in range(self.settings.max_batches):
            fanned = await self.store.fan_out(self._clock.now())
            counts["events_fanned_out"] += fanned
            if not fanned:
                break
        async with self._client() as client:
            for _ in range(self.settings.max_batches):
                claimed = await self.store.claim(
                    self._clock.now(), self._worker, self.settings.lease, self.settings.batch_size
                )
                if not claimed:
                    break
                attempts = await self._send_all(client, claimed)
                recorded_at = self._clock.now()
                await self.store.record(attempts, self._worker, recorded_at)
                created = {c.delivery_id: c.event_created_at for c in claimed}
                metrics.webhooks_delivered(
                    recorded_at - created[a.delivery_id] for a in attempts if a.succeeded
                )
                ok = sum(a.succeeded for a in attempts)
                counts["sent"] += len(attempts)
                counts["delivered"] += ok
                counts["failed_attempts"] += len(attempts) - ok
        return counts

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=self.settings.timeout.total_seconds(),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the address check is ours
        )

    async def _send_all(
        self, client: httpx.AsyncClient, claimed: Sequence[Claimed]
    ) -> list[Attempt]:
        bound = asyncio.Semaphore(self.settings.concurrency)

        async def one(c: Claimed) -> Attempt:
            async with bound:
                return await self.send(client, c)

        return list(await asyncio.gather(*(one(c) for c in claimed)))

    async def send(self, client: httpx.AsyncClient, c: Claimed) -> Attempt:
        at = self._clock.now()
        started = time.monotonic()
        # The signature's time is the wall clock's: the receiver checks it against its own
        # (the engine's clock may be a simulation's).
        status, error = await self._post(client, c, int(self._wall()))
        elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(c.delivery_id, c.endpoint_id, at, status, error, elapsed)

    async def _post(
        self, client: httpx.AsyncClient, c: Claimed, timestamp: int
    ) -> tuple[int | None, str | None]:
        refused = await refusal(
            c.url,
            self.settings.allow_private_networks,
            self._resolver,
            self.settings.timeout.total_seconds(),
        )
        if refused is not None:
            return None, f"refused: {refused}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "payout-engine-webhooks/1",
            webhooks.EVENT_ID_HEADER: str(c.event_id),
            webhooks.SIGNATURE_HEADER: webhooks.signature(c.secret, timestamp, c.body),
        }
        try:
            response = await client.post(c.url, content=c.body, headers=headers)
        except httpx.TimeoutException:
            return None, "timed out"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if 300 <= response.status_code < 400:
            return response.status_code, "redirects are not followed"
        if not 200 <= response.status_code < 300:
            return response.status_code, f"answered {response.status_code}"
        return response.status_code, None
