"""Comparison periods, and the project's promises about its own commands."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from cxdata import periods
from cxdata.errors import UnknownName

ROOT = Path(__file__).resolve().parent.parent


def test_previous_period_has_same_length_and_ends_the_day_before() -> None:
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    assert periods.previous_period(start, end) == (dt.date(2026, 1, 29), dt.date(2026, 2, 28))


def test_same_period_last_year_handles_leap_day() -> None:
    got = periods.same_period_last_year(dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert got == (dt.date(2023, 2, 1), dt.date(2023, 2, 28))


def test_unknown_comparison_names_the_allowed_ones() -> None:
    with pytest.raises(UnknownName, match="previous period"):
        periods.comparison_range(dt.date(2026, 1, 1), dt.date(2026, 1, 2), "last decade")


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.search(r"```bash\n(.+?)\n(.+?)\n```", readme)
    assert commands, "README must open with the two commands"
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines[-1] == commands.group(2)


def test_engine_never_imports_streamlit() -> None:
    for path in (ROOT / "cxdata").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.M), path
