"""Working-day calendars per rail, built from the ``holidays`` package.

``TARGET2`` is the ECB's financial calendar. ``US-FED`` is the federal
holidays as the Federal Reserve observes them: a Sunday holiday moves to the
Monday, a Saturday one is not moved to the Friday (the Fed stays open). Every
other id is a country calendar, tuned where the banks close on more (or other)
days than the public holidays. Each (calendar, year) is built once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from domain.rails import Rail

_SATURDAY, _SUNDAY = 5, 6
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _CountrySource:
    country: str
    subdiv: str | None = None
    categories: tuple[str, ...] = ("public",)
    weekend: frozenset[int] | None = None  # None: the package's weekend for the country


_COUNTRY_SOURCES: dict[str, _CountrySource] = {
    "GB": _CountrySource("GB", subdiv="ENG"),  # Bacs follows the England bank holidays
    "CA": _CountrySource("CA", categories=("public", "government")),  # Payments Canada
    "JP": _CountrySource("JP", categories=("public", "bank")),  # banks close 31 Dec - 3 Jan
    "AU": _CountrySource("AU"),
    "SG": _CountrySource("SG"),
    "IN": _CountrySource("IN"),
    # The package counts Saturday as a working day in HK; CHATS does not run then.
    "HK": _CountrySource("HK", weekend=frozenset({_SATURDAY, _SUNDAY})),
    "CH": _CountrySource("CH", subdiv="ZH"),  # SIC runs from Zurich
    "SE": _CountrySource("SE", categories=("public", "de_facto")),  # Midsummer/Christmas Eve
    "PL": _CountrySource("PL"),
    "DK": _CountrySource("DK"),
    "NZ": _CountrySource("NZ"),
    "NO": _CountrySource("NO"),
    "RO": _CountrySource("RO"),
    "MX": _CountrySource("MX"),
    "IL": _CountrySource("IL"),  # Friday-Saturday weekend, from the package
    "ID": _CountrySource("ID", categories=("public", "government")),  # joint leave days
    "HU": _CountrySource("HU"),  # has working Saturdays, from the package
}

CALENDARS: frozenset[str] = frozenset({"TARGET2", "US-FED", *_COUNTRY_SOURCES})


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
        if day.weekday() == _SUNDAY:
            closed.add(day + _DAY)
        elif day.weekday() != _SATURDAY:
            closed.add(day)
    return _Year(closed=frozenset(closed), weekend=frozenset({_SATURDAY, _SUNDAY}))


@cache
def _year(calendar: str, year: int) -> _Year:
    if calendar == "US-FED":
        return _fed_year(year)
    if calendar == "TARGET2":
        return _from_package(holidays.financial_holidays("XECB", years=year), None)
    source = _COUNTRY_SOURCES.get(calendar)
    if source is None:
        raise ValueError(f"unknown calendar {calendar!r}")
    package = holidays.country_holidays(
        source.country, subdiv=source.subdiv, years=year, categories=source.categories
    )
    return _from_package(package, source.weekend)


def is_business_day(calendar: str, day: date) -> bool:
    return _year(calendar, day.year).is_open(day)


def next_business_day(calendar: str, day: date) -> date:
    """The first business day strictly after ``day``."""
    day += _DAY
    while not is_business_day(calendar, day):
        day += _DAY
    return day


def add_business_days(calendar: str, start: date, days: int) -> date:
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
