"""Amounts of memory and time, read from and written for people (no torch here)."""

from __future__ import annotations

import decimal
import math
import numbers
import re

__all__ = ["MAX_MEMORY", "format_bytes", "format_duration", "parse_memory"]


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units labelled KB, MB, GB, TB (as ``parse_memory`` reads them)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    while abs(n) >= 1024 and len(units) > 1:
        n /= 1024
        units.pop(0)
    unit = units[0]
    return f"{n:.0f} {unit}" if unit == "B" or abs(n) >= 10 else f"{n:.1f} {unit}"


def format_duration(seconds: float) -> str:
    """A duration for people: ``"45 s"``, ``"3 min 05 s"``, ``"2.5 h"``; ``"?"`` when unknown."""
    if not math.isfinite(seconds):
        return "?"
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([KMGT])I?B?|B)?\s*", re.IGNORECASE)


#: Budgets above this (4 EiB, more than any machine has) are taken as this: no limit.
MAX_MEMORY = 2**62


def parse_memory(value, name: str = "memory") -> int:
    """Bytes from a number of bytes or a string such as ``"4GB"``, ``"4 GiB"``, ``"512MB"``, ``"1.5G"``.

    Units are binary whether written GB or GiB: ``"1GB"`` is ``2**30`` bytes,
    like the sizes operating systems report for RAM.  Amounts above
    ``MAX_MEMORY`` are capped to it.  ``name`` names the value in errors.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)  # any size: no float conversion to overflow
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and (match := _MEMORY.fullmatch(value)):
        number = int(decimal.Decimal(match[1]) * _UNITS[(match[2] or "").upper()])
    else:
        raise ValueError(
            f"cannot read {value!r} as an amount of memory ({name}): give a number of bytes or a "
            "string such as '4GB', '512 MB' or '1.5G'"
        )
    if isinstance(number, float) and not math.isfinite(number) or number < 1:
        raise ValueError(f"{name} must be a finite amount of at least 1 byte, got {value!r}")
    return min(int(number), MAX_MEMORY)
