"""The HTTP payment-provider client: status codes, headers and timeouts in, domain outcomes out.

Every attempt of a create sends the same ``Idempotency-Key`` and body, so retrying
after a timeout finds the order the first attempt created rather than making a
second one. Each call builds its own retry loop and attempt log: hundreds of
calls run concurrently on one client and share only the HTTP pool, the rate
limiter and the in-flight bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
from aiolimiter import AsyncLimiter

from domain.errors import (
    InvalidInput,
    NotFound,
    PayoutEngineError,
    ProviderUnavailable,
    UnsupportedCurrency,
)
from domain.ports import (
    Attempt,
    FxQuote,
    PaymentOrderRequest,
    ProviderKind,
    ProviderOrder,
    SettlementReport,
    SubmitOutcome,
    SubmitResult,
)
from domain.verification import VerificationAnswer, VerificationRequest
from providers import metrics
from providers.codec import (
    fx_quote_from_json,
    order_from_json,
    order_request_to_json,
    settlement_report_from_json,
    verification_answer_from_json,
    verification_request_to_json,
)
from providers.retry import RETRYABLE_STATUS, Sleep, parse_retry_after, retrying

if TYPE_CHECKING:
    from providers.mock.bank import MockBank

ORDERS = "/v1/payment_orders"
FX_QUOTES = "/v1/fx_quotes"
SETTLEMENT_REPORTS = "/v1/settlement_reports"
ACCOUNT_VERIFICATIONS = "/v1/account-verifications"
LIST_PAGE_SIZE = 500
DEFAULT_MAX_IN_FLIGHT = 100


@dataclass(frozen=True, slots=True)
class Reply:
    """What one attempt got: an HTTP answer, or no answer at all."""

    result: str  # "http_201", "http_503", "timeout", "transport_error", "invalid_response"
    status_code: int | None = None
    body: Any = None
    retry_after: float | None = None
    detail: str | None = None
    content: bytes = b""  # the body as it came

    @classmethod
    def from_response(cls, response: httpx.Response) -> Reply:
        body = _json_or_none(response)
        retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
        status = response.status_code
        unreadable = response.is_success and not isinstance(body, dict)
        result = "invalid_response" if unreadable else f"http_{status}"
        return cls(result, status, body, retry_after, content=response.content)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and self.has_body

    @property
    def has_body(self) -> bool:
        return isinstance(self.body, dict)

    @property
    def retryable(self) -> bool:
        if self.status_code is None or self.result == "invalid_response":
            return True
        return self.status_code in RETRYABLE_STATUS

    @property
    def error_code(self) -> str:
        code = self.body.get("error") if self.has_body else None
        return code if isinstance(code, str) else self.result

    @property
    def reason_code(self) -> str | None:
        code = self.body.get("reason_code") if self.has_body else None
        return code if isinstance(code, str) and code else None

    @property
    def error_message(self) -> str:
        message = self.body.get("message") if self.has_body else None
        return message if isinstance(message, str) else (self.detail or self.result)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class _AttemptLog:
    """The attempts of one call, for the payout's audit trace.

    It keeps what each reply was, not the reply: the retry loop that holds the log is
    a reference cycle, freed only by a full garbage collection, and a listing page's
    body would wait for it too."""

    def __init__(self) -> None:
        self._results: list[tuple[str, int | None]] = []
        self._waits: list[float] = []

    def record(self, reply: Reply) -> None:
        self._results.append((reply.result, reply.status_code))

    def waited(self, seconds: float) -> None:
        self._waits.append(float(seconds))

    def attempts(self) -> tuple[Attempt, ...]:
        return tuple(
            Attempt(number, result, status_code, self._wait_after(number))
            for number, (result, status_code) in enumerate(self._results, start=1)
        )

    def _wait_after(self, number: int) -> float | None:
        return self._waits[number - 1] if number <= len(self._waits) else None


class HttpPaymentProvider:
    """``domain.ports.PaymentProvider`` over HTTP, with retries and a rate limit.

    ``rate_limit_burst`` defaults to half a second's worth of calls, so a provider
    enforcing the same rate keeps headroom and answers 429 rarely.
    ``max_in_flight`` bounds concurrent requests; waiting for a slot or for the
    rate limiter does not count towards ``call_timeout_s``.
    """

    def __init__(
        self,
        kind: ProviderKind,
        http: httpx.AsyncClient,
        *,
        rate_limit_per_s: float | None = None,
        rate_limit_burst: float | None = None,
        max_attempts: int = 6,
        call_timeout_s: float = 10.0,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        page_size: int = LIST_PAGE_SIZE,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.kind = ProviderKind(kind)
        self._http = http
        self._limiter = _limiter(rate_limit_per_s, rate_limit_burst)
        self._slots = asyncio.Semaphore(max_in_flight)
        self._max_attempts = max_attempts
        self._call_timeout_s = call_timeout_s
        self._page_size = page_size
        self._sleep = sleep

    # -- the port ---------------------------------------------------------------

    async def create_order(self, request: PaymentOrderRequest) -> SubmitResult:
        """Create (or find, by idempotency key) the order. Never raises for HTTP faults."""
        headers = {"Idempotency-Key": request.idempotency_key}
        reply, attempts = await self._call(
            "POST", ORDERS, json=order_request_to_json(request), headers=headers
        )
        return _submit_result(reply, attempts)

    async def find_order(self, idempotency_key: str) -> ProviderOrder | None:
        page = await self._read(ORDERS, {"idempotency_key": idempotency_key})
        data = page["data"]
        return order_from_json(data[0]) if data else None

    async def get_order(self, order_id: str) -> ProviderOrder | None:
        reply, _ = await self._call("GET", f"{ORDERS}/{order_id}")
        if reply.status_code == 404:
            return None
        return order_from_json(_body_or_raise(reply, "get_order"))

    async def list_orders(self, changed_since: datetime | None = None) -> list[ProviderOrder]:
        """Every order changed at or after ``changed_since`` (all when None), all pages."""
        return [order async for page in self.iter_orders(changed_since) for order in page]

    async def iter_orders(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[list[ProviderOrder]]:
        """The same listing a page at a time, oldest change first, so a caller can act on
        (and remember) each page without holding the whole feed in memory."""
        async for page in self._listing(changed_since):
            yield [order_from_json(item) for item in page.body["data"]]

    async def iter_order_json(self, changed_since: datetime | None = None) -> AsyncIterator[bytes]:
        """The same pages as the provider sent them: JSON objects whose ``data`` holds the
        orders (as ``providers.codec`` reads them), for a caller that hands them on as
        they are, instead of building an object per order."""
        async for page in self._listing(changed_since):
            yield page.content

    async def _listing(self, changed_since: datetime | None) -> AsyncIterator[Reply]:
        params: dict[str, str | int] = {"limit": self._page_size}
        if changed_since is not None:
            params["changed_since"] = _aware(changed_since).isoformat()
        while True:
            reply, _ = await self._call("GET", ORDERS, params=dict(params))
            page = _body_or_raise(reply, ORDERS)
            if not isinstance(page.get("data"), list):
                raise ProviderUnavailable(f"{ORDERS}: invalid_response: a page without data")
            yield reply
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def settlement_report(self, day: date) -> SettlementReport:
        """What the provider says settled (completed or returned) on ``day``."""
        return settlement_report_from_json(
            await self._read(f"{SETTLEMENT_REPORTS}/{day.isoformat()}", {})
        )

    async def fx_quote(self, source_currency: str, target_currency: str) -> FxQuote:
        params = {"source": source_currency, "target": target_currency}
        return fx_quote_from_json(await self._read(FX_QUOTES, params))

    async def verify_account(self, request: VerificationRequest) -> VerificationAnswer:
        """Confirmation / Verification of Payee; ``ProviderUnavailable`` when unanswered."""
        reply, _ = await self._call(
            "POST", ACCOUNT_VERIFICATIONS, json=verification_request_to_json(request)
        )
        try:
            return verification_answer_from_json(_body_or_raise(reply, ACCOUNT_VERIFICATIONS))
        except (KeyError, TypeError, ValueError) as error:
            message = f"{ACCOUNT_VERIFICATIONS}: invalid_response: {_describe(error)}"
            raise ProviderUnavailable(message) from None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- HTTP with retries --------------------------------------------------------

    async def _read(self, path: str, params: Mapping[str, str | int]) -> dict[str, Any]:
        reply, _ = await self._call("GET", path, params=dict(params))
        return _body_or_raise(reply, path)

    async def _call(
        self, method: str, url: str, **kwargs: Any
    ) -> tuple[Reply, tuple[Attempt, ...]]:
        log = _AttemptLog()
        loop = retrying(self._max_attempts, self._sleep_seconds, log.waited)
        reply: Reply = await loop(self._attempt, log, method, url, **kwargs)
        attempts = log.attempts()
        metrics.retried(self.kind.value, len(attempts) - 1)
        return reply, attempts

    async def _attempt(self, log: _AttemptLog, method: str, url: str, **kwargs: Any) -> Reply:
        async with self._slots:
            if self._limiter is not None:
                await self._limiter.acquire()
            started = time.perf_counter()
            reply = await self._request(method, url, **kwargs)
        metrics.attempt(
            self.kind.value, reply.result, reply.status_code, time.perf_counter() - started
        )
        log.record(reply)
        return reply

    async def _request(self, method: str, url: str, **kwargs: Any) -> Reply:
        # ASGITransport enforces no timeout, so the deadline is ours, around the whole call.
        try:
            async with asyncio.timeout(self._call_timeout_s):
                response = await self._http.request(method, url, **kwargs)
        except (TimeoutError, httpx.TimeoutException) as error:
            return Reply("timeout", detail=_describe(error))
        except httpx.TransportError as error:
            return Reply("transport_error", detail=_describe(error))
        return Reply.from_response(response)

    def _sleep_seconds(self, seconds: float) -> Awaitable[None]:
        return self._sleep(float(seconds))


def _submit_result(reply: Reply, attempts: tuple[Attempt, ...]) -> SubmitResult:
    if reply.ok:
        try:
            order = order_from_json(reply.body)
        except (KeyError, TypeError, ValueError, PayoutEngineError) as error:
            return SubmitResult(
                SubmitOutcome.UNAVAILABLE, None, "invalid_response", _describe(error), attempts
            )
        return SubmitResult(SubmitOutcome.ACCEPTED, order, attempts=attempts)
    outcome = SubmitOutcome.UNAVAILABLE if reply.retryable else SubmitOutcome.REJECTED
    return SubmitResult(
        outcome, None, reply.error_code, reply.error_message, attempts, reply.reason_code
    )


def _body_or_raise(reply: Reply, what: str) -> dict[str, Any]:
    if reply.ok:
        body: dict[str, Any] = reply.body
        return body
    message = f"{what}: {reply.error_code}: {reply.error_message}"
    if reply.retryable:
        raise ProviderUnavailable(message)
    if reply.status_code == 404:
        raise NotFound(message)
    if reply.error_code == "unsupported_currency":
        raise UnsupportedCurrency(message, field="currency")
    raise InvalidInput(message)


def _limiter(rate_per_s: float | None, burst: float | None) -> AsyncLimiter | None:
    """A leaky bucket draining at ``rate_per_s`` that holds ``burst`` calls (>= 1)."""
    if rate_per_s is None:
        return None
    if rate_per_s <= 0:
        raise ValueError("rate_limit_per_s must be positive")
    size = max(1.0, burst if burst is not None else rate_per_s / 2)
    return AsyncLimiter(size, size / rate_per_s)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("changed_since must be timezone-aware")
    return moment.astimezone(UTC)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def in_process_provider(
    bank: MockBank,
    *,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    **kwargs: Any,
) -> HttpPaymentProvider:
    """A client for a ``MockBank`` in this process, over httpx's ASGI transport.

    ``wrap`` puts a transport of the caller's around it (the simulation's fault injector).
    """
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(
        app=bank.app, raise_app_exceptions=False
    )
    if wrap is not None:
        transport = wrap(transport)
    http = httpx.AsyncClient(transport=transport, base_url=f"http://mock-{bank.kind.value}")
    return HttpPaymentProvider(bank.kind, http, **kwargs)


def remote_provider(kind: ProviderKind, base_url: str, **kwargs: Any) -> HttpPaymentProvider:
    """A client for a provider served over the network (e.g. ``payout-engine mock-provider``)."""
    max_in_flight = kwargs.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
    timeout = kwargs.get("call_timeout_s", 10.0)
    http = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, pool=None),
        limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
    )
    return HttpPaymentProvider(kind, http, **kwargs)
