"""A mock payment provider ("mock bank"): its orders, clock, faults and answers.

``MockBank`` holds the state and the rules; ``providers.mock.api`` is its HTTP face
(``bank.app``). Everything random is fixed by ``config.seed``: order ids and return
decisions are hashed from the seed and the idempotency key, so they do not depend
on the order in which concurrent requests arrive.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from starlette.applications import Starlette

from domain.clock import ManualClock
from domain.money import Money, convert
from domain.ports import Clock, FxQuote, OrderStatus, ProviderKind
from providers.mock.api import build_app
from providers.mock.config import Fault, MockBankConfig
from providers.mock.errors import BankError
from providers.mock.fx import fx_rate
from providers.mock.orders import RETURN_REASONS, OrderBody, StatusEvent, StoredOrder
from providers.mock.ratelimit import TokenBucket
from providers.mock.seeded import digest, unit_interval

ORDER_ID_PREFIX = {
    ProviderKind.ACH: "po_ach",
    ProviderKind.WIRE: "po_wire",
    ProviderKind.CROSS_BORDER: "po_xb",
}
RETURN_DELAY = timedelta(days=1)


@dataclass
class BankStats:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    orders_created: int = 0
    replays: int = 0
    scripted_faults: int = 0
    transient_errors: int = 0
    rate_limited: int = 0
    timeouts: int = 0  # answers held after the order was stored


@dataclass(frozen=True, slots=True)
class Created:
    order: StoredOrder
    new: bool


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[StoredOrder]
    next_after: tuple[datetime, str] | None


class MockBank:
    """One mock provider of one kind; ``app`` serves it, the methods below control it.

    Its time is ``clock.now()`` plus whatever ``advance`` added; the default clock
    stands still at the real time of creation, so statuses move only when told to.
    """

    def __init__(
        self,
        kind: ProviderKind,
        config: MockBankConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.kind = ProviderKind(kind)
        self.config = config or MockBankConfig()
        self.orders: dict[str, StoredOrder] = {}
        self.stats = BankStats()
        self._clock: Clock = clock or ManualClock()
        self._offset = timedelta(0)
        self._by_key: dict[str, str] = {}
        self._script: deque[Fault] = deque()
        self._rejected: set[str] = set()
        self._random = random.Random(self.config.seed)
        self._bucket = _bucket(self.config)
        self.app: Starlette = build_app(self)

    # -- test controls ---------------------------------------------------------

    def now(self) -> datetime:
        return self._clock.now() + self._offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the bank clock does not go backwards")
        self._offset += delta

    def script(self, *faults: Fault) -> None:
        self._script.extend(faults)

    def reject_accounts(self, *account_numbers_or_ibans: str) -> None:
        self._rejected.update(account_numbers_or_ibans)

    def count_orders_for(self, idempotency_key: str) -> int:
        return sum(o.idempotency_key == idempotency_key for o in self.orders.values())

    def order_for(self, idempotency_key: str) -> StoredOrder | None:
        order_id = self._by_key.get(idempotency_key)
        return None if order_id is None else self.orders.get(order_id)

    # -- injected discrepancies, for reconciliation tests ----------------------

    def drop_order(self, order_id: str) -> None:
        """Forget an order, as if the provider lost it (``missing_at_provider``)."""
        order = self.orders.pop(order_id)
        if self._by_key.get(order.idempotency_key) == order_id:
            del self._by_key[order.idempotency_key]

    def force_status(
        self, order_id: str, status: OrderStatus, failure_code: str | None = None
    ) -> None:
        event = StatusEvent(OrderStatus(status), self.now(), failure_code, failure_code)
        self.orders[order_id] = self.orders[order_id].with_status(event)

    def override_amount(self, order_id: str, amount: Money) -> None:
        self.orders[order_id] = replace(self.orders[order_id], amount=amount)

    def duplicate_order(self, order_id: str) -> str:
        """Store a second order for the same key and body (``duplicate_payment``)."""
        original = self.orders[order_id]
        copy_id = f"{order_id}_dup{self.count_orders_for(original.idempotency_key)}"
        self.orders[copy_id] = replace(original, order_id=copy_id)
        return copy_id

    # -- per-request faults ----------------------------------------------------

    def latency_s(self) -> float:
        config = self.config
        if not (config.latency_ms or config.jitter_ms):
            return 0.0
        jitter = self._random.uniform(-config.jitter_ms, config.jitter_ms)
        return max(0.0, config.latency_ms + jitter) / 1000

    def take_token(self) -> int | None:
        """None when under the rate limit, else the Retry-After seconds."""
        return None if self._bucket is None else self._bucket.take()

    def next_scripted_fault(self) -> Fault | None:
        return self._script.popleft() if self._script else None

    def roll_transient_error(self) -> bool:
        return self._roll(self.config.transient_error_rate)

    def hang_after_create(self, created: Created, fault: Fault | None) -> float | None:
        if fault is not None:
            return (
                fault.hang_seconds if fault.hang_seconds is not None else self.config.hang_seconds
            )
        if created.new and self._roll(self.config.timeout_after_create_rate):
            return self.config.hang_seconds
        return None

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    # -- the provider's operations ---------------------------------------------

    def create(self, idempotency_key: str, body: OrderBody) -> Created:
        existing = self.order_for(idempotency_key)
        if existing is not None:
            return self._replay(existing, body)
        self._check(body)
        order = self._new_order(idempotency_key, body)
        self.orders[order.order_id] = order
        self._by_key[idempotency_key] = order.order_id
        self.stats.orders_created += 1
        return Created(order, new=True)

    def _replay(self, existing: StoredOrder, body: OrderBody) -> Created:
        if existing.body != body:
            raise BankError(
                422,
                "idempotency_key_mismatch",
                "this Idempotency-Key was used with a different request body",
            )
        self.stats.replays += 1
        return Created(existing, new=False)

    def _check(self, body: OrderBody) -> None:
        if not self.serves_rail(body.rail):
            raise BankError(400, "unsupported_rail", f"{self.kind} does not serve {body.rail!r}")
        self._check_currencies(body)
        if body.account_values() & self._rejected:
            raise BankError(422, "account_closed", "the beneficiary account is closed")

    def serves_rail(self, rail: str) -> bool:
        if self.kind is ProviderKind.ACH:
            return rail == "ACH"
        if self.kind is ProviderKind.WIRE:
            return rail == "WIRE"
        return bool(rail) and rail not in {"ACH", "WIRE"}

    def _check_currencies(self, body: OrderBody) -> None:
        source, target = body.amount.currency, body.target_currency
        if self.kind is ProviderKind.ACH and (source, target) != ("USD", "USD"):
            raise BankError(400, "unsupported_currency", "ACH pays USD to USD only")
        if self.kind is ProviderKind.WIRE and source != target:
            raise BankError(400, "unsupported_currency", "wires pay in the funding currency")
        if not body.amount.is_positive:
            raise BankError(400, "invalid_amount", "the amount must be positive")

    def _new_order(self, idempotency_key: str, body: OrderBody) -> StoredOrder:
        order_id = self._order_id(idempotency_key)
        now = self.now()
        completes_at = now + timedelta(days=self.config.lag_days(body.rail))
        target_amount, rate = self._converted(body)
        return StoredOrder(
            order_id=order_id,
            idempotency_key=idempotency_key,
            body=body,
            amount=body.amount,
            target_amount=target_amount,
            fx_rate=rate,
            created_at=now,
            completes_at=completes_at,
            return_event=self._return_event(order_id, completes_at),
        )

    def _order_id(self, idempotency_key: str) -> str:
        hashed = digest(self.config.seed, self.kind, idempotency_key)[:20]
        return f"{ORDER_ID_PREFIX[self.kind]}_{hashed}"

    def _converted(self, body: OrderBody) -> tuple[Money | None, Decimal | None]:
        if self.kind is not ProviderKind.CROSS_BORDER:
            return None, None
        rate = fx_rate(self.config.seed, body.amount.currency, body.target_currency)
        return convert(body.amount, rate, body.target_currency), rate

    def _return_event(self, order_id: str, completes_at: datetime) -> StatusEvent | None:
        seed = self.config.seed
        if unit_interval(seed, "return", order_id) >= self.config.return_rate:
            return None
        code, reason = RETURN_REASONS[int(unit_interval(seed, "code", order_id) * 2)]
        return StatusEvent(OrderStatus.RETURNED, completes_at + RETURN_DELAY, code, reason)

    def get(self, order_id: str) -> StoredOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise BankError(404, "not_found", f"no payment order {order_id!r}")
        return order

    def changed_since(
        self, since: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> Page:
        """Orders whose status changed at or after ``since``, by (updated_at, id).

        Inclusive, so a poller that asks again from the last ``updated_at`` it saw
        gets repeats, never gaps.
        """
        now = self.now()
        positions = sorted(
            ((order.current(now).at, order.order_id), order) for order in self.orders.values()
        )
        matching = [
            order
            for position, order in positions
            if (since is None or position[0] >= since) and (after is None or position > after)
        ]
        page = matching[:limit]
        if len(matching) <= limit:
            return Page(page, None)
        return Page(page, (page[-1].current(now).at, page[-1].order_id))

    def settlements_on(self, day: date) -> list[tuple[StoredOrder, StatusEvent]]:
        now = self.now()
        return [
            (order, event)
            for order in sorted(self.orders.values(), key=lambda o: o.order_id)
            for event in order.settlements_on(day, now)
        ]

    def fx_quote(self, source: str, target: str) -> FxQuote:
        return FxQuote(source, target, fx_rate(self.config.seed, source, target), self.now())


def _bucket(config: MockBankConfig) -> TokenBucket | None:
    if config.rate_limit_per_s is None:
        return None
    return TokenBucket(config.rate_limit_per_s, config.rate_limit_burst)
