"""Amounts of memory and time read and written for people (core/units.py)."""

import numpy as np
import pytest

from napari_dip.core.units import MAX_MEMORY, format_bytes, format_duration, parse_memory

GIB = 2**30


@pytest.mark.parametrize(
    "value, expected",
    [
        ("4GB", 4 * GIB),
        ("4 GiB", 4 * GIB),
        ("512MB", 512 * 2**20),
        ("1.5G", int(1.5 * GIB)),
        ("2 kb", 2048),
        (" 100 ", 100),
        ("100B", 100),
        (2**31, 2**31),
        (1e9, 10**9),
        (np.int64(5), 5),
        ("3Gi", 3 * GIB),
    ],
)
def test_parse_memory(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    "value", ["four GB", "4 PB", "", "-1GB", "1.2.3G", "4 iB", 0, -5, True, None, float("nan")]
)
def test_parse_memory_rejects_nonsense(value):
    with pytest.raises(ValueError):
        parse_memory(value)


def test_format_bytes_reads_back():
    assert format_bytes(1.5 * GIB) == "1.5 GB"
    assert format_bytes(512 * 2**20) == "512 MB"
    assert format_bytes(100) == "100 B"
    assert parse_memory(format_bytes(3 * GIB)) == 3 * GIB


def test_parse_memory_takes_huge_amounts_as_no_limit_and_names_the_argument():
    assert parse_memory(10**400) == MAX_MEMORY  # no OverflowError
    assert parse_memory("9" * 400 + " GB") == MAX_MEMORY
    assert parse_memory(1e300) == MAX_MEMORY
    with pytest.raises(ValueError, match="memory_budget"):
        parse_memory("lots", "memory_budget")
    with pytest.raises(ValueError, match="memory_budget"):
        parse_memory(0.5, "memory_budget")  # would be 0 bytes


def test_format_duration_for_people():
    assert format_duration(45) == "45 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(9000) == "2.5 h"
    assert format_duration(float("nan")) == "?"
