"""HTTP face of a mock bank: routes, the per-request fault gate, JSON in and out.

Every ``/v1`` request passes the gate in this order: latency (a real sleep), the
rate limit (429 + Retry-After), then for creates the next scripted fault, then a
random 503. A create that must "time out" stores the order first and then holds
its answer, so the client gives up on a request that did take effect. The
``/_admin`` control routes (``providers.mock.admin``) skip the gate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import InvalidInput
from domain.money import Money
from providers.codec import (
    JsonObject,
    decimal_to_json,
    fx_quote_to_json,
    money_to_json,
    order_to_json,
    parse_timestamp,
    timestamp_to_json,
)
from providers.mock.admin import advance_clock, force_outcome, inject_discrepancy
from providers.mock.config import Fault
from providers.mock.errors import BankError
from providers.mock.orders import StatusEvent, StoredOrder
from providers.mock.validation import idempotency_key, json_object, parse_order_body
from providers.mock.verification import parse_verification_body

if TYPE_CHECKING:
    from providers.mock.bank import MockBank

Handler = Callable[[Request, "MockBank"], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def build_app(bank: MockBank) -> Starlette:
    app = Starlette(
        routes=[
            Route("/v1/payment_orders", _guarded(create_order, create=True), methods=["POST"]),
            Route("/v1/payment_orders", _guarded(list_orders), methods=["GET"]),
            Route("/v1/payment_orders/{order_id}", _guarded(get_order), methods=["GET"]),
            Route("/v1/settlement_reports/{day}", _guarded(settlement_report), methods=["GET"]),
            Route("/v1/fx_quotes", _guarded(fx_quote), methods=["GET"]),
            Route("/v1/account-verifications", _guarded(verify_account), methods=["POST"]),
            Route("/_admin/advance", _admin(advance_clock), methods=["POST"]),
            Route("/_admin/discrepancies", _admin(inject_discrepancy), methods=["POST"]),
            Route("/_admin/outcomes", _admin(force_outcome), methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
    app.state.bank = bank
    return app


def _guarded(handler: Handler, *, create: bool = False) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        bank: MockBank = request.app.state.bank
        bank.stats.requests += 1
        response = await _answer(request, bank, handler, create)
        bank.stats.by_status[response.status_code] += 1
        return response

    return endpoint


async def _answer(request: Request, bank: MockBank, handler: Handler, create: bool) -> Response:
    latency = bank.latency_s()
    if latency:
        await asyncio.sleep(latency)
    try:
        request.state.fault = _gate(bank, create)
        return await handler(request, bank)
    except (BankError, InvalidInput) as error:
        return _error(error)


def _admin(handler: Handler) -> Endpoint:
    """A control endpoint: no fault gate and no stats, the same error answers."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.bank)
        except (BankError, InvalidInput) as error:
            return _error(error)

    return endpoint


def _gate(bank: MockBank, create: bool) -> Fault | None:
    """Raise the fault this request meets; return a scripted hang for the create to apply."""
    retry_after = bank.take_token()
    if retry_after is not None:
        bank.stats.rate_limited += 1
        raise BankError(429, "rate_limited", "too many requests", {"Retry-After": str(retry_after)})
    fault = bank.next_scripted_fault() if create else None
    if fault is not None:
        bank.stats.scripted_faults += 1
        if not fault.hangs:
            raise _fault_error(fault)
        return fault
    if bank.roll_transient_error():
        bank.stats.transient_errors += 1
        raise BankError(503, "service_unavailable", "try again later")
    return None


def _fault_error(fault: Fault) -> BankError:
    assert fault.status_code is not None
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return BankError(fault.status_code, fault.error or "error", "scripted fault", headers)


def _error(error: BankError | InvalidInput) -> Response:
    if isinstance(error, InvalidInput):
        error = BankError(400, error.code.lower(), error.message)
    body = {"error": error.error, "message": error.message}
    if error.reason_code is not None:
        body["reason_code"] = error.reason_code
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


# -- handlers ---------------------------------------------------------------------


async def create_order(request: Request, bank: MockBank) -> Response:
    key = idempotency_key(request.headers)
    body = parse_order_body(await json_object(request))
    created = bank.create(key, body)
    hang = bank.hang_after_create(created, request.state.fault)
    if hang is not None:
        bank.stats.timeouts += 1
        await asyncio.sleep(hang)
    status_code = 201 if created.new else 200
    return JSONResponse(order_json(created.order, bank.now()), status_code=status_code)


async def get_order(request: Request, bank: MockBank) -> Response:
    order = bank.get(request.path_params["order_id"])
    return JSONResponse(order_json(order, bank.now()))


async def list_orders(request: Request, bank: MockBank) -> Response:
    params = request.query_params
    now = bank.now()
    key = params.get("idempotency_key")
    if key is not None:
        order = bank.order_for(key)
        found = [] if order is None else [order_json(order, now)]
        return JSONResponse({"data": found, "next_cursor": None})
    since = _timestamp_param(params.get("changed_since"))
    page = bank.changed_since(since, decode_cursor(params.get("cursor")), _limit(params))
    data = [order_json(order, now) for order in page.orders]
    return JSONResponse({"data": data, "next_cursor": encode_cursor(page.next_after)})


async def settlement_report(request: Request, bank: MockBank) -> Response:
    day = _date(request.path_params["day"])
    settled = bank.settlements_on(day)
    return JSONResponse(
        {
            "date": day.isoformat(),
            "provider": bank.kind.value,
            "entries": [_settlement_json(order, event) for order, event in settled],
            "totals": _totals(settled),
        }
    )


async def fx_quote(request: Request, bank: MockBank) -> Response:
    source, target = request.query_params.get("source"), request.query_params.get("target")
    if not source or not target:
        raise BankError(400, "invalid_request", "source and target currencies are required")
    return JSONResponse(fx_quote_to_json(bank.fx_quote(source, target)))


async def verify_account(request: Request, bank: MockBank) -> Response:
    body = parse_verification_body(await json_object(request))
    return JSONResponse(bank.verify_account(body))


async def health(request: Request) -> Response:
    bank: MockBank = request.app.state.bank
    return JSONResponse(
        {"status": "ok", "kind": bank.kind.value, "now": timestamp_to_json(bank.now())}
    )


# -- JSON -------------------------------------------------------------------------


def order_json(order: StoredOrder, now: datetime) -> JsonObject:
    return order_to_json(order.view(now)) | {
        "beneficiary_name": order.body.beneficiary_name,
        "beneficiary_country": order.body.beneficiary_country,
        "reference": order.body.reference,
        "expected_completion_at": timestamp_to_json(order.completes_at),
    }


def _settlement_json(order: StoredOrder, event: StatusEvent) -> JsonObject:
    target = order.target_amount
    return {
        "order_id": order.order_id,
        "idempotency_key": order.idempotency_key,
        "status": event.status.value,
        "at": timestamp_to_json(event.at),
        "amount": money_to_json(order.amount),
        "target_amount": None if target is None else money_to_json(target),
        "fx_rate": decimal_to_json(order.fx_rate),
        "rail": order.body.rail,
        "reference": order.body.reference,
        "failure_code": event.failure_code,
        "failure_reason": event.failure_reason,
    }


def _totals(settled: list[tuple[StoredOrder, StatusEvent]]) -> JsonObject:
    """Per funding currency: count and sum of completed and of returned amounts."""
    totals: dict[str, dict[str, Any]] = {}
    for order, event in settled:
        currency = order.amount.currency
        zero = Money.zero(currency)
        row = totals.setdefault(currency, {"count": 0, "completed": zero, "returned": zero})
        row[event.status.value] += order.amount
        row["count"] += 1
    return {
        currency: {
            "count": row["count"],
            "completed": row["completed"].to_decimal_string(),
            "returned": row["returned"].to_decimal_string(),
        }
        for currency, row in totals.items()
    }


# -- parameters -------------------------------------------------------------------


def _timestamp_param(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise BankError(
            400, "invalid_request", "changed_since is an ISO 8601 time with offset"
        ) from None


def _limit(params: Any) -> int:
    text = params.get("limit", str(DEFAULT_PAGE_SIZE))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise BankError(400, "invalid_request", f"limit is 1..{MAX_PAGE_SIZE}")
    return int(text)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BankError(400, "invalid_request", "the report date is YYYY-MM-DD") from None


def encode_cursor(position: tuple[datetime, str] | None) -> str | None:
    if position is None:
        return None
    at, order_id = position
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{order_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        at, order_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return parse_timestamp(at), order_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BankError(400, "invalid_cursor", "the cursor is not one this bank issued") from None
