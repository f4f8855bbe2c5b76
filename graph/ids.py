"""Ids cross the API as strings: ASCII digits that fit a BIGINT, nothing else.

``str.isdigit`` alone is not enough: it accepts a superscript two (which ``int``
refuses) and an Arabic-Indic one (which ``int`` reads as 1), and an id of 30 digits
overflows the database's integer.
"""

from __future__ import annotations

MAX_DIGITS = 18  # below 2**63


def parse_id(value: str | None) -> int | None:
    """The id ``value`` names, or None when it names none."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > MAX_DIGITS:
        return None
    return int(value)
