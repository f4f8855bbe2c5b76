"""Deterministic pseudo-randomness from a seed and a name, independent of call order."""

from __future__ import annotations

from hashlib import sha256


def digest(*parts: object) -> str:
    return sha256(":".join(map(str, parts)).encode()).hexdigest()


def unit_interval(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``."""
    return int(digest(*parts)[:16], 16) / 16**16
