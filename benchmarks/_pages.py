"""Write a benchmark's table into its docs page, between two marker comments."""

from __future__ import annotations

from pathlib import Path


def replace_table(page: Path, name: str, text: str) -> None:
    """Replace what lies between ``<!-- name -->`` and ``<!-- end name -->`` in ``page``."""
    begin, end = f"<!-- {name} -->", f"<!-- end {name} -->"
    head, rest = page.read_text().split(begin)
    _, tail = rest.split(end)
    page.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
