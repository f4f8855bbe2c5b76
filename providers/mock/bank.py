"""A mock payment provider ("mock bank"): its orders, clock, faults and answers.

``MockBank`` holds the state and the rules; ``providers.mock.api`` is its HTTP face
(``bank.app``). Everything random is fixed by ``config.seed``: order ids and
lifecycle decisions (failures, returns) are hashed from the seed and the
idempotency key or order id, so they do not depend on the order in which
concurrent requests arrive. Listings read an ``OrderIndex``, so a page costs
about what it returns, not a sort of every order.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import count, islice
from types import MappingProxyType

from starlette.applications import Starlette

from domain.clock import ManualClock
from domain.money import Money, check_currency, convert
from domain.ports import Clock, FxQuote, OrderStatus, ProviderKind
from domain.rails import RAILS
from providers.mock import lifecycle
from providers.mock.api import build_app
from providers.mock.config import Fault, MockBankConfig
from providers.mock.errors import BankError
from providers.mock.fx import fx_rate
from providers.mock.index import OrderIndex
from providers.mock.orders import OrderBody, StatusEvent, StoredOrder
from providers.mock.ratelimit import TokenBucket
from providers.mock.seeded import digest
from providers.mock.timeline import Entry
from providers.mock.verification import VerificationBody, Verifier

PROVIDER_OF_RAIL = {rail.code: rail.provider for rail in RAILS}
ORDER_ID_PREFIX = {
    ProviderKind.ACH: "po_ach",
    ProviderKind.WIRE: "po_wire",
    ProviderKind.CROSS_BORDER: "po_xb",
}


def _sample_body(target_currency: str, rail: str, country: str, **account: str) -> OrderBody:
    return OrderBody(
        amount=Money(10_000, "USD"),
        target_currency=target_currency,
        rail=rail,
        beneficiary_name="Unknown Payee",
        beneficiary_country=country,
        account=tuple(sorted(account.items())),
        reference="not-ours",
    )


# What an injected unknown order pays when the test does not say: USD 100.00.
SAMPLE_BODIES = {
    ProviderKind.ACH: _sample_body(
        "USD", "ACH", "US", routing_number="011000015", account_number="000123456789"
    ),
    ProviderKind.WIRE: _sample_body(
        "USD", "WIRE", "SG", swift_bic="DBSSSGSG", account_number="0123456789"
    ),
    ProviderKind.CROSS_BORDER: _sample_body("EUR", "SEPA", "DE", iban="DE89370400440532013000"),
}


@dataclass
class BankStats:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    orders_created: int = 0  # through create calls, replays not counted
    replays: int = 0
    scripted_faults: int = 0
    transient_errors: int = 0
    rate_limited: int = 0
    timeouts: int = 0  # answers held after the order was stored
    injected: Counter[str] = field(default_factory=Counter)  # by reconciliation break kind


@dataclass(frozen=True, slots=True)
class Created:
    order: StoredOrder
    new: bool


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[StoredOrder]
    next_after: Entry | None


class MockBank:
    """One mock provider of one kind; ``app`` serves it, the methods below control it.

    Its time is ``clock.now()`` plus whatever ``advance`` added; the default clock
    stands still at the real time of creation, so statuses move only when told to
    (``providers.mock.clock.AcceleratedClock`` makes them move by themselves).
    """

    def __init__(
        self,
        kind: ProviderKind,
        config: MockBankConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.kind = ProviderKind(kind)
        self.config = config or MockBankConfig()
        self.stats = BankStats()
        self._clock: Clock = clock or ManualClock()
        self._offset = timedelta(0)
        self._orders: dict[str, StoredOrder] = {}
        self._keys: dict[str, list[str]] = {}  # idempotency key -> order ids, oldest first
        self._index = OrderIndex(self._orders)
        self._script: deque[Fault] = deque()
        self._rejected: set[str] = set()
        self._outcomes: dict[str, lifecycle.Outcome] = {}  # account value -> forced fate
        self._random = random.Random(self.config.seed)
        self._bucket = _bucket(self.config)
        self.verifier = Verifier(self.config)
        self.app: Starlette = build_app(self)

    @property
    def orders(self) -> Mapping[str, StoredOrder]:
        """Every stored order by id, read-only: changes go through the methods."""
        return MappingProxyType(self._orders)

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

    def set_outcome(self, account_number_or_iban: str, status: OrderStatus, code: str) -> None:
        """Orders created from now on to this account fail (at settlement time) or come
        back (a day after completing) with ``code``, whatever the seed draws."""
        self._outcomes[account_number_or_iban] = lifecycle.Outcome(OrderStatus(status), code)

    def count_orders_for(self, idempotency_key: str) -> int:
        return len(self._keys.get(idempotency_key, ()))

    def order_for(self, idempotency_key: str) -> StoredOrder | None:
        order_ids = self._keys.get(idempotency_key)
        return self._orders[order_ids[0]] if order_ids else None

    # -- injected discrepancies, one per reconciliation break kind -------------
    #
    # Amount, currency and duplicate injections rewrite history: the order was
    # always so, at its original times. Forced statuses and unknown orders happen
    # now, so a poller reading changed_since from its last watermark sees them.

    def drop_order(self, order_id: str) -> None:
        """Forget an order, as if the provider lost it (``missing_at_provider``)."""
        self._unstore(self.get(order_id))
        self.stats.injected["missing_at_provider"] += 1

    def force_status(
        self,
        order_id: str,
        status: OrderStatus,
        failure_code: str | None = None,
        failure_reason: str | None = None,
    ) -> None:
        """Replace the order's lifecycle with ``status`` from now (``status_mismatch``)."""
        event = StatusEvent(
            OrderStatus(status), self.now(), failure_code, failure_reason or failure_code
        )
        self._restore(self.get(order_id).with_status(event))
        self.stats.injected["status_mismatch"] += 1

    def override_amount(self, order_id: str, amount: Money) -> None:
        """Record another amount for the order (``amount_mismatch``)."""
        self._restore(replace(self.get(order_id), amount=amount))
        self.stats.injected["amount_mismatch"] += 1

    def override_currency(self, order_id: str, currency: str) -> None:
        """The same minor units in another currency (``currency_mismatch``)."""
        order = self.get(order_id)
        if check_currency(currency) == order.amount.currency:
            raise BankError(400, "invalid_request", f"the order is already in {currency}")
        self._restore(replace(order, amount=Money(order.amount.minor, currency)))
        self.stats.injected["currency_mismatch"] += 1

    def duplicate_order(self, order_id: str) -> str:
        """Store a second order for the same key and body (``duplicate_payment``)."""
        original = self.get(order_id)
        copy = replace(original, order_id=self._free_id(f"{order_id}_dup"))
        self._store(copy)
        self.stats.injected["duplicate_payment"] += 1
        return copy.order_id

    def inject_unknown_order(
        self, idempotency_key: str | None = None, body: OrderBody | None = None
    ) -> str:
        """Accept an order now that no create call made (``unknown_at_provider``).

        Without a key it gets one no payout has; with a payout's key it is the
        orphaned order of a submission whose answer the engine never recorded.
        The body defaults to ``SAMPLE_BODIES[kind]``.
        """
        key = idempotency_key or self._unused_key()
        if self.count_orders_for(key):
            raise BankError(
                409, "idempotency_key_in_use", f"{key!r} has an order; duplicate that instead"
            )
        body = body or SAMPLE_BODIES[self.kind]
        self._check(body)
        order = self._new_order(key, body)
        self._store(order)
        self.stats.injected["unknown_at_provider"] += 1
        return order.order_id

    def _unused_key(self) -> str:
        keys = (f"unknown-{digest(self.config.seed, n)[:16]}" for n in count())
        return next(key for key in keys if not self.count_orders_for(key))

    def _free_id(self, prefix: str) -> str:
        order_ids = (f"{prefix}{n}" for n in count(1))
        return next(order_id for order_id in order_ids if order_id not in self._orders)

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
        self._store(order)
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
            code = "R02" if body.rail in lifecycle.ACH_RAILS else "AC04"
            raise BankError(
                422, "account_closed", "the beneficiary account is closed", reason_code=code
            )

    def serves_rail(self, rail: str) -> bool:
        """A rail of the table is served by its provider; the cross-border bank, like a
        real one, also takes local schemes the table does not list."""
        provider = PROVIDER_OF_RAIL.get(rail)
        if provider is None:
            return self.kind is ProviderKind.CROSS_BORDER and bool(rail)
        return provider is self.kind

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
        target_amount, rate = self._converted(body)
        return StoredOrder(
            order_id=order_id,
            idempotency_key=idempotency_key,
            body=body,
            amount=body.amount,
            target_amount=target_amount,
            fx_rate=rate,
            lifecycle=lifecycle.plan(
                self.config, order_id, self.now(), body.rail, self._forced_outcome(body)
            ),
        )

    def _forced_outcome(self, body: OrderBody) -> lifecycle.Outcome | None:
        forced = (self._outcomes.get(value) for value in sorted(body.account_values()))
        return next((outcome for outcome in forced if outcome is not None), None)

    def _order_id(self, idempotency_key: str) -> str:
        hashed = digest(self.config.seed, self.kind, idempotency_key)[:20]
        return f"{ORDER_ID_PREFIX[self.kind]}_{hashed}"

    def _converted(self, body: OrderBody) -> tuple[Money | None, Decimal | None]:
        if self.kind is not ProviderKind.CROSS_BORDER:
            return None, None
        rate = fx_rate(self.config.seed, body.amount.currency, body.target_currency)
        return convert(body.amount, rate, body.target_currency), rate

    # -- the store: orders by id and by key, and the index listings read ------

    def load(self, orders: Iterable[StoredOrder]) -> None:
        """Hold orders built elsewhere (a benchmark's seed) as if they had been created."""
        for order in orders:
            self._store(order)

    def _store(self, order: StoredOrder) -> None:
        self._orders[order.order_id] = order
        self._keys.setdefault(order.idempotency_key, []).append(order.order_id)
        self._index.add(order, self.now())

    def _unstore(self, order: StoredOrder) -> None:
        self._index.remove(order)
        del self._orders[order.order_id]
        same_key = self._keys[order.idempotency_key]
        same_key.remove(order.order_id)
        if not same_key:
            del self._keys[order.idempotency_key]

    def _restore(self, changed: StoredOrder) -> None:
        """Replace an order by a changed version of itself (same id and key)."""
        old = self._orders[changed.order_id]
        if old.events() != changed.events():
            self._index.remove(old)
            self._index.add(changed, self.now())
        self._orders[changed.order_id] = changed

    # -- reading ---------------------------------------------------------------

    def get(self, order_id: str) -> StoredOrder:
        order = self._orders.get(order_id)
        if order is None:
            raise BankError(404, "not_found", f"no payment order {order_id!r}")
        return order

    def changed_since(self, since: datetime | None, after: Entry | None, limit: int) -> Page:
        """Orders whose current status began at or after ``since``, by (updated_at, id).

        Inclusive, so a poller that asks again from the last ``updated_at`` it saw
        gets repeats, never gaps: an order whose status changes later moves to a
        later place, past any cursor already handed out. ``after`` is the cursor.
        """
        floor = None if since is None else (since, "")  # "" sorts before every order id
        bound = max((b for b in (floor, after) if b is not None), default=None)
        rows = list(islice(self._index.current_after(bound, self.now()), limit + 1))
        page = [self._orders[order_id] for _, order_id in rows[:limit]]
        return Page(page, rows[limit - 1] if len(rows) > limit else None)

    def settlements_on(self, day: date) -> list[tuple[StoredOrder, StatusEvent]]:
        """Completions and returns on ``day`` (UTC) that have happened, by (time, id)."""
        now = self.now()
        start = datetime.combine(day, time.min, UTC)
        end = start + timedelta(days=1)
        settled: list[tuple[StoredOrder, StatusEvent]] = []
        for at, order_id in self._index.settlements_from(start):
            if at >= end or at > now:
                break
            order = self._orders[order_id]
            settled.extend((order, event) for event in order.settlements_at(at))
        return settled

    def fx_quote(self, source: str, target: str) -> FxQuote:
        return FxQuote(source, target, fx_rate(self.config.seed, source, target), self.now())

    def verify_account(self, body: VerificationBody) -> dict[str, str | None]:
        """Confirmation / Verification of Payee (``providers.mock.verification``)."""
        if not self.serves_rail(body.rail):
            raise BankError(400, "unsupported_rail", f"{self.kind} does not serve {body.rail!r}")
        return self.verifier.answer(body)


def _bucket(config: MockBankConfig) -> TokenBucket | None:
    if config.rate_limit_per_s is None:
        return None
    return TokenBucket(config.rate_limit_per_s, config.rate_limit_burst)
