from datetime import UTC, date, datetime, time

import pytest

from domain.calendars import (
    Calendar,
    add_business_days,
    expected_settlement_date,
    is_business_day,
    next_business_day,
    processing_date,
)
from domain.rails import ACH, RAILS, rail_by_code

# The calendars the rails follow, by the name an operator sees.
CALENDARS = {rail.calendar.name: rail.calendar for rail in RAILS}
TARGET2, US_FED, GB, IL, HU = (CALENDARS[name] for name in ("TARGET2", "US-FED", "GB", "IL", "HU"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# calendar: (a day it is closed, a nearby weekday it is open), all in 2026
HOLIDAYS = {
    "TARGET2": ("2026-12-25", "2026-12-24"),
    "US-FED": ("2026-11-26", "2026-11-25"),
    "GB": ("2026-08-31", "2026-08-28"),
    "CA": ("2026-07-01", "2026-07-02"),
    "JP": ("2026-12-31", "2026-12-30"),
    "AU": ("2026-01-26", "2026-01-27"),
    "SG": ("2026-08-10", "2026-08-11"),
    "IN": ("2026-01-26", "2026-01-27"),
    "HK": ("2026-07-01", "2026-07-02"),
    "CH": ("2026-05-14", "2026-05-13"),
    "SE": ("2026-06-19", "2026-06-18"),
    "PL": ("2026-11-11", "2026-11-12"),
    "DK": ("2026-04-02", "2026-04-01"),
    "NZ": ("2026-02-06", "2026-02-05"),
    "NO": ("2026-05-14", "2026-05-13"),
    "RO": ("2026-12-01", "2026-12-02"),
    "MX": ("2026-09-16", "2026-09-15"),
    "IL": ("2026-09-21", "2026-09-20"),
    "ID": ("2026-08-17", "2026-08-18"),
    "HU": ("2026-10-23", "2026-10-22"),
}


def test_every_calendar_has_a_holiday_case() -> None:
    assert set(HOLIDAYS) == set(CALENDARS)


@pytest.mark.parametrize(("calendar", "days"), HOLIDAYS.items())
def test_each_calendar_knows_its_holidays(calendar: str, days: tuple[str, str]) -> None:
    closed, open_ = (date.fromisoformat(day) for day in days)
    assert not is_business_day(CALENDARS[calendar], closed)
    assert is_business_day(CALENDARS[calendar], open_)


@pytest.mark.parametrize("calendar", sorted(set(CALENDARS) - {"IL"}))
def test_saturday_and_sunday_are_closed(calendar: str) -> None:
    assert not is_business_day(CALENDARS[calendar], date(2026, 11, 21))
    assert not is_business_day(CALENDARS[calendar], date(2026, 11, 22))


def test_israel_works_sunday_to_thursday() -> None:
    assert not is_business_day(IL, date(2026, 11, 20))  # Friday
    assert not is_business_day(IL, date(2026, 11, 21))  # Saturday
    assert is_business_day(IL, date(2026, 11, 22))  # Sunday


def test_hungarian_working_saturdays_are_business_days() -> None:
    assert is_business_day(HU, date(2026, 1, 10))
    assert not is_business_day(HU, date(2026, 1, 2))  # the bridge day it pays for


def test_target2_closes_on_its_six_days_only() -> None:
    closed = [date(2026, 1, 1), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1)]
    closed += [date(2026, 12, 25), date(2026, 12, 26)]
    assert not any(is_business_day(TARGET2, day) for day in closed)
    assert is_business_day(TARGET2, date(2026, 12, 31))


class TestFederalReserveCalendar:
    def test_a_saturday_holiday_leaves_the_friday_open(self) -> None:
        assert is_business_day(US_FED, date(2026, 7, 3))  # 4 July 2026 is a Saturday
        assert is_business_day(US_FED, date(2027, 12, 24))  # Christmas 2027 is a Saturday
        assert is_business_day(US_FED, date(2027, 12, 31))  # New Year 2028 is a Saturday
        assert is_business_day(US_FED, date(2027, 6, 18))  # Juneteenth 2027 is a Saturday

    def test_a_sunday_holiday_closes_the_monday(self) -> None:
        assert not is_business_day(US_FED, date(2027, 7, 5))  # 4 July 2027 is a Sunday

    @pytest.mark.parametrize(
        "holiday",
        [
            *("2026-01-01", "2026-01-19", "2026-02-16", "2026-05-25", "2026-06-19"),
            *("2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25"),
        ],
    )
    def test_the_weekday_federal_holidays_are_closed(self, holiday: str) -> None:
        assert not is_business_day(US_FED, date.fromisoformat(holiday))


def test_unknown_calendar_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown calendar"):
        is_business_day(Calendar("MARS"), date(2026, 1, 5))


def test_next_business_day_skips_weekends_and_holidays() -> None:
    assert next_business_day(TARGET2, date(2026, 12, 24)) == date(2026, 12, 28)
    assert next_business_day(TARGET2, date(2026, 12, 28)) == date(2026, 12, 29)


def test_add_business_days() -> None:
    assert add_business_days(GB, date(2026, 8, 28), 0) == date(2026, 8, 28)
    assert add_business_days(GB, date(2026, 8, 28), 1) == date(2026, 9, 1)
    assert add_business_days(GB, date(2026, 8, 28), 5) == date(2026, 9, 7)
    assert add_business_days(GB, date(2026, 9, 1), -1) == date(2026, 8, 28)
    assert add_business_days(US_FED, date(2026, 12, 31), 1) == date(2027, 1, 4)


class TestExpectedSettlement:
    def test_sepa_after_cutoff_on_christmas_eve_waits_for_target2_to_reopen(self) -> None:
        sepa = rail_by_code("SEPA")
        after_cutoff = utc(2026, 12, 24, 15, 30)  # 16:30 in Frankfurt, cut-off 15:00
        assert processing_date(sepa, after_cutoff) == date(2026, 12, 28)
        assert expected_settlement_date(sepa, after_cutoff) == date(2026, 12, 29)

    def test_sepa_before_cutoff_on_christmas_eve(self) -> None:
        sepa = rail_by_code("SEPA")
        assert expected_settlement_date(sepa, utc(2026, 12, 24, 9)) == date(2026, 12, 28)

    def test_bacs_over_the_summer_bank_holiday(self) -> None:
        bacs = rail_by_code("BACS")  # two days after input; Monday 31 Aug is a bank holiday
        assert expected_settlement_date(bacs, utc(2026, 8, 28, 10)) == date(2026, 9, 2)

    def test_bacs_over_christmas_and_boxing_day_observed(self) -> None:
        bacs = rail_by_code("BACS")
        assert expected_settlement_date(bacs, utc(2026, 12, 24, 10)) == date(2026, 12, 30)

    def test_ach_over_thanksgiving(self) -> None:
        before = utc(2026, 11, 25, 15)  # 10:00 in New York
        after = utc(2026, 11, 25, 22)  # 17:00 in New York, cut-off 16:00
        assert expected_settlement_date(ACH, before) == date(2026, 11, 27)
        assert expected_settlement_date(ACH, after) == date(2026, 11, 30)

    def test_zengin_over_the_japanese_new_year(self) -> None:
        zengin = rail_by_code("ZENGIN")  # same day; banks close 31 Dec to 3 Jan
        assert expected_settlement_date(zengin, utc(2026, 12, 30, 2)) == date(2026, 12, 30)
        assert expected_settlement_date(zengin, utc(2026, 12, 30, 6)) == date(2027, 1, 4)

    def test_the_cutoff_instant_itself_is_too_late(self) -> None:
        zengin = rail_by_code("ZENGIN")
        assert zengin.cutoff == time(14, 0)
        just_before = utc(2026, 11, 19, 4, 59, 59)  # 13:59:59 in Tokyo
        at_cutoff = utc(2026, 11, 19, 5, 0)
        assert expected_settlement_date(zengin, just_before) == date(2026, 11, 19)
        assert expected_settlement_date(zengin, at_cutoff) == date(2026, 11, 20)

    def test_the_date_is_the_rails_local_date(self) -> None:
        zengin = rail_by_code("ZENGIN")
        # Thursday 23:30 UTC is Friday 08:30 in Tokyo.
        assert expected_settlement_date(zengin, utc(2026, 11, 19, 23, 30)) == date(2026, 11, 20)
        # Friday 16:00 UTC is Saturday in Tokyo; Monday 23 Nov is Labour Thanksgiving Day.
        assert expected_settlement_date(zengin, utc(2026, 11, 20, 16)) == date(2026, 11, 24)

    def test_cutoff_follows_daylight_saving_time(self) -> None:
        assert expected_settlement_date(ACH, utc(2026, 1, 14, 20, 30)) == date(2026, 1, 15)
        assert expected_settlement_date(ACH, utc(2026, 7, 15, 20, 30)) == date(2026, 7, 17)

    def test_a_weekend_submission_starts_on_monday(self) -> None:
        sepa = rail_by_code("SEPA")
        assert expected_settlement_date(sepa, utc(2026, 11, 21, 9)) == date(2026, 11, 24)

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            expected_settlement_date(ACH, datetime(2026, 11, 25, 12))
