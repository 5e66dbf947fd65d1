"""The Data page's mapping step under AppTest (issue 12, item 18): "Maps to" is a choice of
the allowed targets, warnings are in words (no JSON) and go once the mapping no longer has
them, and "Why" / "Check this" wrap in the table and are listed below it as text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_import_page import data_dir, metrics, page, texts, upload  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("data_dir")  # a fresh store, open admin mode

AIRLINE = Path(__file__).resolve().parent / "field" / "airline_reviews.csv"
WRAPS_ABOVE_PX = 64  # Streamlit's grid wraps cell text only in rows taller than 4rem


def editor(at: AppTest) -> tuple[str, dict, pd.DataFrame]:
    """The mapping editor: its key, its column configuration and its table."""
    (element,) = at.data_editor
    return element.key, json.loads(element.proto.columns), element.value


def edit(at: AppTest, column: str, **cells: str) -> AppTest:
    """Edit the row of `column` as a user would in the grid, then rerun."""
    key, _, table = editor(at)
    row = int(table.index[table["column"] == column][0])
    edits = dict(at.session_state[key]["edited_rows"]) if key in at.session_state else {}
    edits[row] = {**edits.get(row, {}), **cells}
    at.session_state[key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception
    return at


def cell(at: AppTest, column: str, field: str) -> str:
    _, _, table = editor(at)
    return str(table.loc[table["column"] == column, field].iloc[0])


def test_maps_to_is_a_choice_of_the_allowed_targets() -> None:
    at = upload(page(), AIRLINE)
    _, config, table = editor(at)
    to = config["to"]
    assert to["type_config"]["type"] == "selectbox"
    options = {o["value"]: o["label"] for o in to["type_config"]["options"]}
    assert next(iter(options)) == "leave out"
    assert {"nps", "csat", "ces", "rating", "text", "segment", "submitted_at"} <= set(options)
    assert options["nps"] == "NPS (0–10)"
    assert set(table["to"]) <= set(options)  # every suggestion is one of the choices
    rows = table.set_index("column")
    assert rows.loc["author", "to"] == "leave out"  # personal data
    assert tuple(rows.loc["route", ["to", "name"]]) == ("segment", "route")
    assert tuple(rows.loc["seat_comfort", ["to", "touchpoint"]]) == ("rating", "Seat comfort")
    # "Why" and "Check this" follow "Maps to" and wrap: readable without scrolling sideways
    (element,) = at.data_editor
    assert list(element.proto.column_order)[:4] == ["column", "to", "note", "warning"]
    assert element.proto.row_height > WRAPS_ABOVE_PX
    why = texts(at, "markdown").replace("**", "")
    assert "seat_comfort → rating of a touchpoint (Seat comfort, 1–5): a rating on 1–5" in why
    assert "route → segment (a filter) route: segment" in why


def test_warnings_are_words_and_go_once_fixed() -> None:
    at = upload(page(), AIRLINE)
    warnings = texts(at, "warning")
    assert "rating: 1–10 is not NPS unless the question asks about recommending" in warnings
    assert "if it does, map it to nps" in warnings
    assert '"to"' not in warnings and '": ' not in warnings  # no JSON
    assert "recommended: yes/no is not NPS" in warnings
    assert metrics(at)["Would be imported"] == "40"

    at = edit(at, "rating", to="leave out")  # the user decides: not a rating after all
    warnings = texts(at, "warning")
    assert "rating: 1–10" not in warnings
    assert "recommended: yes/no is not NPS" in warnings  # the other one stays
    assert cell(at, "rating", "warning") == ""
    assert cell(at, "rating", "note").startswith("changed here; the suggestion was rating")
    assert metrics(at)["Would be imported"] == "40"

    at = edit(at, "rating", to="nps")  # now it is NPS on 1–10: a different warning
    warnings = texts(at, "warning")
    assert "rating: 1–10 is not NPS" not in warnings
    assert "rating: asked on 1–10, not 0–10 (a common mistake): counted as NPS" in warnings
    assert cell(at, "rating", "warning").startswith("asked on 1–10, not 0–10")


def test_a_choice_that_needs_more_says_what_in_words() -> None:
    at = upload(page(), AIRLINE)
    at = edit(at, "recommended", to="nps")  # yes/no answers read as 0/1: not 0–10
    errors = texts(at, "error")
    assert "'recommended' is on a 0–1 scale but nps is 0–10" in errors
    assert "map it as a rating, or turn on rescale" in errors
    assert '"' not in errors.replace("'", "")
    assert "recommended: yes/no is not NPS" not in texts(at, "warning")
    at = edit(at, "recommended", to="segment", name="would_recommend")
    assert not at.error
    why = texts(at, "markdown").replace("**", "")
    assert "recommended → segment (a filter) would_recommend" in why
