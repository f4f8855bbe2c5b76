"""Working-day calendars, built from the ``holidays`` package.

A rail names its calendar in its entry (``Rail.calendar``), tuned where the banks
close on more (or other) days than the public holidays. ``TARGET2`` is the ECB's
financial calendar. ``US_FED`` is the federal holidays as the Federal Reserve
observes them: a Sunday holiday moves to the Monday, a Saturday one is not moved
to the Friday (the Fed stays open). Each (calendar, year) is built once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays

if TYPE_CHECKING:
    from collections.abc import Iterable

    from domain.rails import Rail

SATURDAY, SUNDAY = 5, 6
_DAY = timedelta(days=1)


class Source(StrEnum):
    COUNTRY = "country"  # a country's holidays, as the package observes them
    MARKET = "market"  # a financial market's closing days
    FEDERAL_RESERVE = "federal_reserve"  # US federal holidays, as the Fed observes them


@dataclass(frozen=True, slots=True)
class Calendar:
    """Where a rail's working days come from."""

    name: str  # what an operator sees; for a country calendar, the ISO country code
    source: Source = Source.COUNTRY
    code: str | None = None  # the package's code when it is not ``name`` (a market's MIC)
    subdiv: str | None = None
    categories: tuple[str, ...] = ("public",)
    weekend: frozenset[int] | None = None  # None: the package's weekend for the country


TARGET2 = Calendar("TARGET2", Source.MARKET, code="XECB")
US_FED = Calendar("US-FED", Source.FEDERAL_RESERVE)


@dataclass(frozen=True, slots=True)
class _Year:
    closed: frozenset[date]
    weekend: frozenset[int]
    working_weekend_days: frozenset[date] = frozenset()

    def is_open(self, day: date) -> bool:
        if day in self.working_weekend_days:
            return True
        return day.weekday() not in self.weekend and day not in self.closed


def _from_package(calendar: holidays.HolidayBase, weekend: frozenset[int] | None) -> _Year:
    return _Year(
        closed=frozenset(calendar),
        weekend=weekend if weekend is not None else frozenset(calendar.weekend),
        working_weekend_days=frozenset(calendar.weekend_workdays),
    )


def _fed_year(year: int) -> _Year:
    closed: set[date] = set()
    for day in holidays.country_holidays("US", years=year, observed=False):
        if day.weekday() == SUNDAY:
            closed.add(day + _DAY)
        elif day.weekday() != SATURDAY:
            closed.add(day)
    return _Year(closed=frozenset(closed), weekend=frozenset({SATURDAY, SUNDAY}))


@cache
def _year(calendar: Calendar, year: int) -> _Year:
    code = calendar.code or calendar.name
    if calendar.source is Source.FEDERAL_RESERVE:
        return _fed_year(year)
    if calendar.source is Source.MARKET:
        return _from_package(holidays.financial_holidays(code, years=year), None)
    try:
        package = holidays.country_holidays(
            code, subdiv=calendar.subdiv, years=year, categories=calendar.categories
        )
    except NotImplementedError:
        raise ValueError(f"unknown calendar {calendar.name!r}") from None
    return _from_package(package, calendar.weekend)


def warm(rails: Iterable[Rail], day: date) -> None:
    """Build the calendars of ``rails`` for ``day``'s year and the next: the first look
    at a country's holidays imports its module and takes about a second, which a
    server does at start-up rather than inside its first payout request."""
    for rail in rails:
        for year in (day.year, day.year + 1):
            _year(rail.calendar, year)


def is_business_day(calendar: Calendar, day: date) -> bool:
    return _year(calendar, day.year).is_open(day)


def next_business_day(calendar: Calendar, day: date) -> date:
    """The first business day strictly after ``day``."""
    day += _DAY
    while not is_business_day(calendar, day):
        day += _DAY
    return day


def add_business_days(calendar: Calendar, start: date, days: int) -> date:
    """The ``days``-th business day after ``start`` (before it, when negative)."""
    step = _DAY if days >= 0 else -_DAY
    day = start
    for _ in range(abs(days)):
        day += step
        while not is_business_day(calendar, day):
            day += step
    return day


def processing_date(rail: Rail, submitted_at: datetime) -> date:
    """The rail's business day that a submission at ``submitted_at`` makes."""
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be timezone-aware")
    local = submitted_at.astimezone(ZoneInfo(rail.timezone))
    day = local.date()
    if local.time() >= rail.cutoff or not is_business_day(rail.calendar, day):
        return next_business_day(rail.calendar, day)
    return day


def expected_settlement_date(rail: Rail, submitted_at: datetime) -> date:
    """Cut-off and holidays first, then the rail's settlement lag in business days."""
    return add_business_days(
        rail.calendar, processing_date(rail, submitted_at), rail.settlement_lag_days
    )
