"""Annotations (issue 14, item 4): events stored with date, label and optional scope
(cxdata.annotations), drawn on every trend chart through one helper, added and deleted from
the Trends page and the CLI, shown or hidden by a URL parameter of shared links."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import random_responses
from streamlit.testing.v1 import AppTest

from cxdata import annotations, charts, cli, demo, history, schema
from cxdata.annotations import AnnotationError, add_annotation, annotations_in, delete_annotation
from cxdata.errors import CxError, NoData
from cxdata.filters import Filters
from cxdata.roles import AccessDenied
from cxdata.store import Store, close, connect
from cxdata.urlstate import GLOBAL_PARAMS, PAGE_PARAMS, dim_param

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/trends.py"
DEMO_END = dt.date(2026, 6, 30)


@pytest.fixture()
def small(tmp_path: Path) -> Iterator[Store]:
    """An embedded store with 2,000 random responses (2025-01-01 … 2026-02-04; regions Oslo,
    Skåne, Celje; plans Basic, Plus, Premium)."""
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, random_responses(2_000, seed=3))
    yield store
    close(tmp_path)


# --- engine -------------------------------------------------------------------------------


def test_add_list_delete_round_trip(small: Store) -> None:
    a = add_annotation(small, "2025-03-01", "Checkout fix")
    b = add_annotation(small, dt.date(2025, 4, 15), "Oslo price change", ("region", "Oslo"))
    listed = annotations.list_annotations(small)
    assert list(listed["id"]) == [a, b]
    assert list(listed["date"]) == [dt.date(2025, 3, 1), dt.date(2025, 4, 15)]
    assert list(listed["label"]) == ["Checkout fix", "Oslo price change"]
    assert list(listed["scope"]) == ["", "region = Oslo"]
    assert listed["scope_dim"].iloc[0] is None and listed["scope_value"].iloc[1] == "Oslo"
    assert set(listed["author"]) == {small.author}
    assert len(a) == 12 and a != b
    # every add and delete is one recorded snapshot of kind "annotation"
    delete_annotation(small, a)
    assert list(annotations.list_annotations(small)["id"]) == [b]
    log = history.changes(small)
    assert [c.kind for c in log[:3]] == ["annotation"] * 3
    assert log[0].ops == ("delete annotations",) and log[1].rows == {"annotations": 1}
    assert not any(c.undoable for c in log[:3])  # not customer data: not in the undo list
    with pytest.raises(NoData, match="no annotation"):
        delete_annotation(small, a)


def test_label_is_cleaned_to_one_line(small: Store) -> None:
    add_annotation(small, "2025-03-01", "  Checkout\u202e\n\tfix\x1b[31m  ")
    assert annotations.list_annotations(small)["label"].tolist() == ["Checkout fix"]


@pytest.mark.parametrize(
    ("date", "label", "scope", "message"),
    [
        ("2025-03-01", "   ", None, "the label is empty"),
        ("2025-03-01", "x" * 121, None, "the label has 121 characters; at most 120"),
        ("2025-02-30", "ok", None, "date '2025-02-30' is not a date: use YYYY-MM-DD"),
        ("0025-03-01", "ok", None, "date 0025-03-01 is outside 1990–2100"),
        ("2025-03-01", "ok", ("nope", "x"), "scope dimension 'nope' is not a stored dimension"),
        ("2025-03-01", "ok", ("region", "Olso"), "region has no value 'Olso' in the data"),
    ],
)
def test_validation_errors_are_one_line(
    small: Store, date: str, label: str, scope: tuple[str, str] | None, message: str
) -> None:
    with pytest.raises(AnnotationError) as caught:
        add_annotation(small, date, label, scope)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not small.has(annotations.ANNOTATIONS)  # nothing written


def test_120_characters_are_allowed(small: Store) -> None:
    add_annotation(small, "2025-03-01", "y" * 120)
    assert annotations.list_annotations(small)["label"].str.len().tolist() == [120]


def test_scope_text_parses_dim_equals_value() -> None:
    assert annotations.parse_scope("region=Oslo") == ("region", "Oslo")
    assert annotations.parse_scope(" plan = Plus ") == ("plan", "Plus")
    assert annotations.parse_scope(None) is None and annotations.parse_scope("") is None
    with pytest.raises(AnnotationError, match="is not DIM=VALUE"):
        annotations.parse_scope("regionOslo")


def test_roles_and_restrictions_refuse_writes(small: Store) -> None:
    kept = add_annotation(small, "2025-03-01", "Release")
    viewer = small.acting_as("viewer")
    with pytest.raises(AccessDenied):
        add_annotation(viewer, "2025-03-02", "Nope")
    with pytest.raises(AccessDenied):
        delete_annotation(viewer, kept)
    narrow = small.restricted({"region": ("Oslo",)})
    with pytest.raises(CxError, match="restricted view cannot add annotations"):
        add_annotation(narrow, "2025-03-02", "Nope")
    with pytest.raises(CxError, match="restricted view cannot delete annotations"):
        delete_annotation(narrow, kept)
    assert list(annotations.list_annotations(small)["id"]) == [kept]
    analyst = small.acting_as("analyst")  # "import" is enough, both ways
    delete_annotation(analyst, add_annotation(analyst, "2025-03-03", "Analyst's"))
    assert list(annotations.list_annotations(small)["id"]) == [kept]


def _three(store: Store) -> dict[str, str]:
    return {
        "all": add_annotation(store, "2025-03-01", "Everywhere"),
        "oslo": add_annotation(store, "2025-04-01", "Oslo only", ("region", "Oslo")),
        "plus": add_annotation(store, "2025-05-01", "Plus plan", ("plan", "Plus")),
    }


def test_annotations_in_a_view(small: Store) -> None:
    ids = _three(small)

    def seen(f: Filters) -> list[str]:
        found = annotations_in(small, f)
        return [k for k, v in ids.items() if v in set(found["id"])]

    assert seen(Filters()) == ["all", "oslo", "plus"]  # unfiltered: scoped ones too
    assert seen(Filters.make(dt.date(2025, 3, 2), dt.date(2025, 5, 1))) == ["oslo", "plus"]
    assert seen(Filters.make(dt.date(2025, 3, 1), dt.date(2025, 3, 1))) == ["all"]
    assert seen(Filters.make(where={"region": ["Skåne"]})) == ["all", "plus"]
    assert seen(Filters.make(where={"region": ["Oslo", "Skåne"]})) == ["all", "oslo", "plus"]
    assert seen(Filters.make(where={"region": ["Oslo"], "plan": ["Basic"]})) == ["all", "oslo"]


def test_a_restricted_store_hides_annotations_scoped_outside_it(small: Store) -> None:
    ids = _three(small)
    narrow = small.restricted({"region": ("Skåne",)})
    assert set(annotations.list_annotations(narrow)["id"]) == {ids["all"], ids["plus"]}
    assert set(annotations_in(narrow, Filters())["id"]) == {ids["all"], ids["plus"]}
    inside = small.restricted({"region": ("Oslo",)})
    assert set(annotations.list_annotations(inside)["id"]) == set(ids.values())
    # a restriction on a dimension no annotation is scoped to hides none of them
    assert len(annotations.list_annotations(small.restricted({"channel": ("web",)}))) == 3


def test_no_annotations_yet_is_an_empty_frame(small: Store) -> None:
    frame = annotations_in(small, Filters())
    assert frame.empty and {"id", "date", "label", "scope"} <= set(frame.columns)


# --- the command line -----------------------------------------------------------------------


def test_cli_add_list_delete(small: Store, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--data-dir", small.location]
    assert cli.main([*where, "annotate", "add", "--date", "2026-01-10", "--label",
                     "Checkout fix", "--scope", "region=Oslo"]) == 0  # fmt: skip
    ident = capsys.readouterr().out.split()[1]
    assert cli.main([*where, "annotate", "add", "--date", "2025-12-01", "--label", "Price"]) == 0
    capsys.readouterr()
    assert cli.main([*where, "annotate", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(x["date"], x["label"], x["scope_dim"], x["scope_value"]) for x in listed] == [
        ("2025-12-01", "Price", None, None), ("2026-01-10", "Checkout fix", "region", "Oslo"),
    ]  # fmt: skip
    assert listed[1]["id"] == ident
    assert cli.main([*where, "annotate", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].startswith(f"{ident}  2026-01-10  Checkout fix  [region = Oslo]")
    assert cli.main([*where, "annotate", "delete", ident]) == 0
    assert capsys.readouterr().out.strip() == f"annotation {ident} deleted"
    assert cli.main([*where, "annotate", "delete", ident]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m cxdata annotate: error: no annotation") and "\n" not in err
    assert cli.main([*where, "annotate", "add", "--date", "2026-01-10", "--label", "x",
                     "--scope", "region"]) == 1  # fmt: skip
    assert "is not DIM=VALUE" in capsys.readouterr().err
    assert len(annotations.list_annotations(connect(small.location))) == 1


def test_cli_as_a_viewer_is_refused(
    small: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    access = tmp_path / "access.toml"
    access.write_text('[users."v@example.com"]\nrole = "viewer"\n')
    monkeypatch.setenv("CX_ACCESS_FILE", str(access))
    where = ["--data-dir", small.location, "--as-user", "v@example.com"]
    assert cli.main([*where, "annotate", "add", "--date", "2026-01-10", "--label", "x"]) == 1
    assert "is a viewer and may not import data" in capsys.readouterr().err
    assert cli.main([*where, "annotate", "list", "--json"]) == 0  # reading is fine
    assert json.loads(capsys.readouterr().out) == []


# --- the chart helper ----------------------------------------------------------------------


def _trend(months: int = 6) -> pd.DataFrame:
    periods = pd.date_range("2026-01-01", periods=months, freq="MS")
    n = 200
    return pd.DataFrame({
        "period": periods, "responses": n, "nps": 20.0, "nps_n": n, "nps_ci_low": 10.0,
        "nps_ci_high": 30.0, "nps_low_base": False, "nps_suppressed": False,
        "promoter_pct": 50.0, "passive_pct": 20.0, "detractor_pct": 30.0,
    })  # fmt: skip


def _notes(*rows: tuple[str, str, str | None, str | None]) -> pd.DataFrame:
    return pd.DataFrame([
        {"id": str(i), "date": dt.date.fromisoformat(d), "label": label, "scope_dim": dim,
         "scope_value": value, "author": "a@example.com",
         "scope": annotations.scope_text(dim, value)}
        for i, (d, label, dim, value) in enumerate(rows)
    ])  # fmt: skip


def test_helper_adds_one_line_per_annotation_in_range() -> None:
    notes = _notes(
        ("2026-02-10", "Checkout fix", None, None),
        ("2026-06-30", "Last day of June <b>", "region", "Oslo"),  # month grain: in range
        ("2025-12-31", "Before", None, None),
        ("2026-07-01", "After", None, None),
    )
    for fig in (
        charts.trend_figure(_trend(), "nps", None, grain="month", notes=notes),
        charts.shares_figure(_trend(), grain="month", notes=notes),
    ):
        shapes = [s for s in fig.layout.shapes if s.line.dash == "dash"]
        assert [pd.Timestamp(s.x0).date() for s in shapes] == [
            dt.date(2026, 2, 10), dt.date(2026, 6, 30)]
        assert all(s.yref == "paper" and (s.y0, s.y1) == (0, 1) for s in shapes)
        labels = [a for a in fig.layout.annotations if a.hovertext]
        assert [a.text for a in labels] == [
            "Checkout fix", "Last day of June &lt;b&gt; · <i>Oslo</i>"]
        assert labels[1].hovertext == (
            "<b>Last day of June &lt;b&gt;</b><br>30 Jun 2026<br>Scope: region = Oslo<br>"
            "Added by a@example.com")
        assert "Scope: everywhere" in labels[0].hovertext
        # inside the plot's top, so never on the legend above it
        assert all(a.yref == "paper" and a.y == 1 and a.yanchor == "top" for a in labels)
    # the same chart with the week grain ends on the last week's Sunday (7 Jun 2026 here)
    weekly = _trend().assign(period=pd.date_range("2026-05-04", periods=6, freq="W-MON"))
    fig = charts.trend_figure(weekly, "nps", None, grain="week", notes=notes)
    assert len(fig.layout.shapes) == 0


def test_helper_staggers_near_labels_and_cuts_long_ones() -> None:
    notes = _notes(
        ("2026-02-01", "A release with a rather long name indeed", None, None),
        ("2026-02-05", "Price change", None, None),
        ("2026-05-01", "Far away", None, None),
    )
    fig = charts.trend_figure(_trend(), "nps", None, grain="month", notes=notes)
    labels = [a for a in fig.layout.annotations if a.hovertext]
    assert labels[0].text == "A release with a ra…"
    assert [a.yshift for a in labels] == [-2, -2 - charts.NOTE_ROW_PX, -2]
    assert [a.xanchor for a in labels] == ["left", "left", "right"]
    assert charts.trend_figure(_trend(), "nps", None, grain="month").layout.shapes == ()


def test_notes_param_is_declared_once() -> None:
    assert "notes" in PAGE_PARAMS
    assert dim_param("notes") == "dim.notes"  # a dimension named so cannot collide


def test_every_page_option_param_is_reserved() -> None:
    """A page option's URL parameter missing from PAGE_PARAMS would collide with a dimension
    of the same name (its filter would be read as the option, or the other way round)."""
    root = Path(__file__).resolve().parent.parent
    sources = [root / "dashboard.py", *sorted((root / "pages").rglob("*.py"))]
    literal = re.compile(r'\bparam="([A-Za-z_.]+)"')
    used = {name for path in sources for name in literal.findall(path.read_text("utf-8"))}
    assert {"order", "drivers.outcome", "why.by"} <= used  # the scan sees the pages
    assert used - (GLOBAL_PARAMS | PAGE_PARAMS) == set()


# --- the Trends page --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """8,000 demo responses ending 30 Jun 2026 and two annotations in the last 90 days."""
    path = tmp_path_factory.mktemp("notes_app")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo.demo_responses(rows=8_000, end=DEMO_END))
    add_annotation(store, "2026-04-20", "Checkout fix")
    add_annotation(store, "2026-06-01", "Oslo price change", ("region", "Oslo"))
    yield path
    close(path)


@pytest.fixture()
def page_env(page_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CX_DATA_DIR", str(page_dir))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")  # open mode with write rights (local use)
    for name in ("CX_DATABASE_URL", "CX_AUTO_DEMO", "CX_ACCESS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)
    import streamlit as st

    st.cache_data.clear()
    return page_dir


def open_trends(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page(PAGE)
    at.query_params.clear()
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


TREND_CHARTS = ("NPS per ", "Share of promoters")  # the page's charts over time


def dashed(at: AppTest) -> list[list[str]]:
    """Per trend chart on the page (TREND_CHARTS): the dates of its annotation lines."""
    out = []
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        if not any(t in title for t in TREND_CHARTS):
            continue
        shapes = spec["layout"].get("shapes", [])
        out.append([s["x0"][:10] for s in shapes if s.get("line", {}).get("dash") == "dash"])
    return out


def test_page_draws_them_and_the_url_hides_them(page_env: Path) -> None:
    at = open_trends({"grain": "week"})
    assert dashed(at) == [["2026-04-20", "2026-06-01"]] * 2  # the trend and the mix
    assert at.toggle(key="trends.notes").value is True
    assert "notes" not in at.query_params  # the default leaves the URL clean
    at = open_trends({"grain": "week", "notes": "off"})  # a shared link with them hidden
    assert at.toggle(key="trends.notes").value is False
    assert dashed(at) == [[], []]
    assert dict(at.query_params) == {"grain": "week", "notes": "off"}  # kept in the link
    # a view filtered to another region: only the unscoped one
    at = open_trends({"grain": "week", "region": "Viken"})
    assert dashed(at) == [["2026-04-20"]] * 2


def test_add_an_annotation_through_the_form(page_env: Path) -> None:
    at = open_trends({})
    at.date_input(key="notes.date").set_value(dt.date(2026, 5, 12))
    at.text_input(key="notes.label").set_value("Release 4.2 <script>")
    at.selectbox(key="notes.dim").set_value("plan")
    at.run()
    at.selectbox(key="notes.value").set_value("Basic")
    at.button(key="notes.add").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["Annotation “Release 4\\.2 \\<script\\>” added\\."]
    texts = [m.value for m in at.markdown]
    assert "**12 May 2026** · Release 4\\.2 \\<script\\>" in texts  # listed, as plain text
    assert "plan \\= Basic · by dashboard \\(open access\\)" in [c.value for c in at.caption]
    assert at.text_input(key="notes.label").value == ""  # ready for the next one
    assert "2026-05-12" in dashed(at)[0]
    stored = annotations.list_annotations(connect(page_env))
    row = stored[stored["label"] == "Release 4.2 <script>"].iloc[0]
    assert (row["date"], row["scope"], row["author"]) == (
        dt.date(2026, 5, 12), "plan = Basic", "dashboard (open access)")
    # and its delete button takes it away again
    at.button(key=f"notes.del.{row['id']}").click()
    at.run()
    assert "2026-05-12" not in dashed(at)[0]
    assert len(annotations.list_annotations(connect(page_env))) == 2


def test_a_viewer_sees_them_but_gets_no_form(
    page_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CX_OPEN_ADMIN")
    at = open_trends({"grain": "week"})
    assert dashed(at)[0] == ["2026-04-20", "2026-06-01"]
    assert not [b for b in at.button if str(b.key).startswith("notes.")]
    assert any("Adding annotations needs the analyst role" in c.value for c in at.caption)
